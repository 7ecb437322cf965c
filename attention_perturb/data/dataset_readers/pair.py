import logging
from typing import Dict, Iterable, Iterator, Optional, Sequence, Tuple, Union

from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import LabelField, MetadataField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenIndexer
from allennlp.data.tokenizers import Tokenizer

from attention_perturb.data.errors import counted
from attention_perturb.errors import DatasetFormatError
from attention_perturb.data.jsonl import read_jsonl
from attention_perturb.data.tokenizers import JainWallaceTokenizer

logger = logging.getLogger(__name__)

Example = Dict[str, Optional[str]]  # {"passage": ..., "question": ..., "label": ...}
# Readers yield a problem instead of raising it, so that reading can go on past it when asked.
ExampleOrProblem = Union[Example, ValueError]


class PairReader(DatasetReader):
    """
    Base of the pair-sequence readers (QA: passage + question -> answer; NLI: premise + hypothesis
    -> label). Subclasses turn a file into `(line number, example)` pairs with `examples`; this
    class validates them, tokenises with the Jain & Wallace preprocessing and builds instances with
    `passage`, `question`, `label` and `metadata`. Processed JSON lines (`.jsonl`, as written by
    `allennlp make-dataset`) hold `{"passage", "question", "label"}`.

    A bad example raises an error naming file and line, unless `skip_invalid` is set: then it is
    counted, logged and skipped (`skipped` holds the count of the last read).

    # Parameters

    tokenizer : `Tokenizer`, optional (default = `JainWallaceTokenizer()`)
    token_indexers : `Dict[str, TokenIndexer]`, optional (default = `{"tokens": SingleIdTokenIndexer()}`)
    skip_invalid : `bool`, optional (default = `False`)
    """

    labels: Optional[Sequence[str]] = None  # a closed label set to validate against, if any

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        skip_invalid: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs)
        self._tokenizer = tokenizer or JainWallaceTokenizer()
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self._skip_invalid = skip_invalid
        self.skipped = 0

    def examples(self, file_path: str) -> Iterator[Tuple[int, ExampleOrProblem]]:
        for line_number, data in read_jsonl(file_path, ("passage", "question", "label")):
            yield line_number, data if isinstance(data, ValueError) else {
                key: data[key] for key in ("passage", "question", "label")
            }

    def validate(self, example: Example) -> None:
        """Raises `ValueError` saying what is wrong with an example."""
        if self.labels is not None and example["label"] is not None and example["label"] not in self.labels:
            raise ValueError(f"unknown label {example['label']!r} (expected one of {list(self.labels)})")

    def checked_examples(self, file_path: str) -> Iterator[Example]:
        """The file's valid examples; invalid ones raise or, with `skip_invalid`, are counted."""
        self.skipped = 0
        for line_number, example in self.examples(file_path):
            try:
                if isinstance(example, ValueError):
                    raise example
                self.validate(example)
            except ValueError as error:
                self._invalid(DatasetFormatError(file_path, line_number, str(error)))
                continue
            yield example
        if self.skipped:
            logger.warning("%s: skipped %d invalid examples", file_path, self.skipped)

    def _invalid(self, error: DatasetFormatError) -> None:
        if not self._skip_invalid:
            raise error
        self.skipped += 1
        logger.warning("skipping %s", error)

    def _read(self, file_path: str) -> Iterable[Instance]:
        examples = self.shard_iterable(self.checked_examples(file_path))
        for example in counted(examples, self, file_path, lambda: self.skipped):
            yield self.text_to_instance(example["passage"], example["question"], example["label"])

    def text_to_instance(  # type: ignore
        self, passage: str, question: str, label: Optional[str] = None
    ) -> Instance:
        passage_tokens, question_tokens = self._tokenizer.tokenize(passage), self._tokenizer.tokenize(question)
        if not passage_tokens or not question_tokens:
            raise ValueError("empty passage or question")
        fields = {
            "passage": TextField(passage_tokens),
            "question": TextField(question_tokens),
            "metadata": MetadataField(
                {"passage_words": [t.text for t in passage_tokens], "question_words": [t.text for t in question_tokens]}
            ),
        }
        if label is not None:
            fields["label"] = LabelField(label)
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        for name in ("passage", "question"):
            instance.fields[name].token_indexers = self._token_indexers  # type: ignore
