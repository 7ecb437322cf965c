import logging
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple, Union

from allennlp.data import DatasetReader, Instance
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenIndexer
from allennlp.data.tokenizers import Tokenizer

from attention_perturb.data.dataset_readers.sst import NEGATIVE, POSITIVE, single_text_instance
from attention_perturb.data.errors import counted
from attention_perturb.errors import DatasetFormatError
from attention_perturb.data.jsonl import read_jsonl
from attention_perturb.data.tokenizers import JainWallaceTokenizer

logger = logging.getLogger(__name__)

TextExample = Dict[str, str]  # {"text": ..., "label": ...}
# (file, line, example) or (file, line, what is wrong with it): raw formats spread examples over
# many files (IMDB, 20News), so each one carries its own location.
LocatedExample = Tuple[str, int, Union[TextExample, ValueError]]


@DatasetReader.register("text_classification")
class TextClassificationReader(DatasetReader):
    """
    Binary text classification (SST, IMDB, 20News, AGNews) from the JSON lines written by
    `allennlp make-dataset` (`{"text": ..., "label": "negative" | "positive"}`), tokenised with the
    Jain & Wallace preprocessing. Instances have `tokens`, `label` and `metadata`
    (`sentence`, `words`), as those of `sst_trees`, so the classifier and the saliency predictor
    treat every binary dataset alike.

    A malformed line, a missing key, an empty text or a label outside `labels` raises an error
    naming file and line, unless `skip_invalid` is set: then it is counted, logged and skipped
    (`skipped` holds the count of the last read).

    # Parameters

    tokenizer : `Tokenizer`, optional (default = `JainWallaceTokenizer()`)
    token_indexers : `Dict[str, TokenIndexer]`, optional (default = `{"tokens": SingleIdTokenIndexer()}`)
    labels : `Sequence[str]`, optional (default = `("negative", "positive")`)
    skip_invalid : `bool`, optional (default = `False`)
    """

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        labels: Sequence[str] = (NEGATIVE, POSITIVE),
        skip_invalid: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs)
        self._tokenizer = tokenizer or JainWallaceTokenizer()
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self.labels = tuple(labels)
        self._skip_invalid = skip_invalid
        self.skipped = 0

    def examples(self, file_path: str) -> Iterator[LocatedExample]:
        for line_number, data in read_jsonl(file_path, ("text", "label")):
            yield file_path, line_number, data

    def validate(self, example: TextExample) -> None:
        """Raises `ValueError` saying what is wrong with an example."""
        if not isinstance(example["text"], str) or not example["text"].strip():
            raise ValueError("empty text: there is nothing to classify")
        if example["label"] not in self.labels:
            raise ValueError(f"unknown label {example['label']!r} (expected one of {list(self.labels)})")

    def checked(self, located_examples: Iterable[LocatedExample]) -> Iterator[TextExample]:
        """The valid examples; an invalid one raises `DatasetFormatError` or, with `skip_invalid`,
        is counted and skipped."""
        self.skipped = 0
        for path, line_number, example in located_examples:
            try:
                if isinstance(example, ValueError):
                    raise example
                self.validate(example)
            except ValueError as error:
                located = DatasetFormatError(path, line_number, str(error))
                if not self._skip_invalid:
                    raise located from None
                self.skipped += 1
                logger.warning("skipping %s", located)
                continue
            yield {"text": example["text"], "label": example["label"]}
        if self.skipped:
            logger.warning("skipped %d invalid examples", self.skipped)

    def _read(self, file_path: str) -> Iterable[Instance]:
        examples = self.shard_iterable(self.checked(self.examples(file_path)))
        for example in counted(examples, self, file_path, lambda: self.skipped):
            yield self.text_to_instance(example["text"], example["label"])

    def text_to_instance(self, sentence: str, label: Optional[str] = None) -> Instance:  # type: ignore
        return single_text_instance(self._tokenizer, sentence, label)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"].token_indexers = self._token_indexers  # type: ignore
