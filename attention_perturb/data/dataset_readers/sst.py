import re
from typing import Dict, Iterable, List, Optional, Tuple

from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import LabelField, MetadataField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenIndexer
from allennlp.data.tokenizers import Tokenizer

from attention_perturb.data.errors import counted
from attention_perturb.errors import DatasetFormatError
from attention_perturb.data.tokenizers import JainWallaceTokenizer

_LEAF = re.compile(r"\(([0-4]) ([^()\s]+)\)")
_ROOT = re.compile(r"^\(([0-4]) ")
_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}"}

NEGATIVE, POSITIVE = "negative", "positive"


def parse_sst_tree(line: str) -> Tuple[int, List[str]]:
    """Returns the root sentiment (0-4) and the leaves of one PTB-format SST tree, or raises
    `ValueError` saying what is wrong with it."""
    line = line.strip()
    root = _ROOT.match(line)
    if root is None:
        raise ValueError("expected a tree starting with '(<label 0-4> '")
    depth = 0
    for character in line:
        depth += {"(": 1, ")": -1}.get(character, 0)
        if depth < 0:
            raise ValueError("unbalanced parentheses")
    if depth != 0:
        raise ValueError("unbalanced parentheses")
    leaves = [_PTB_ESCAPES.get(word, word).replace("\\/", "/") for _, word in _LEAF.findall(line)]
    if not leaves:
        raise ValueError("tree has no words")
    return int(root.group(1)), leaves


def binary_sentiment(fine_label: int) -> Optional[str]:
    """The paper's binary SST: 0-1 negative, 3-4 positive, neutral (2) dropped."""
    if fine_label == 2:
        return None
    return NEGATIVE if fine_label < 2 else POSITIVE


def single_text_instance(tokenizer: Tokenizer, text: str, label: Optional[str], noun: str = "text") -> Instance:
    """The instance every single-text reader gives the classifier: `tokens`, `metadata` (the text
    and its words, for predictors and dumps) and, if known, `label`. An empty text is an error
    ("empty <noun>")."""
    tokens = tokenizer.tokenize(text)
    if not tokens:
        raise ValueError(f"empty {noun}: there is nothing to classify")
    fields = {
        "tokens": TextField(tokens),
        "metadata": MetadataField({"sentence": text, "words": [t.text for t in tokens]}),
    }
    if label is not None:
        fields["label"] = LabelField(label)
    return Instance(fields)


@DatasetReader.register("sst_trees")
class SstTreesReader(DatasetReader):
    """
    Reads the Stanford Sentiment Treebank in its PTB tree format (one tree per line, as in
    `trainDevTestTrees_PTB`) and builds the sentence-level binary task of the paper: the root label
    decides, neutral sentences are dropped, 0-1 become `negative` and 3-4 `positive` (6,920 / 872 /
    1,821 sentences in train / dev / test).

    The tree's words are re-tokenised with the given tokenizer so that training text and raw text
    given to a predictor go through exactly the same preprocessing.

    # Parameters

    tokenizer : `Tokenizer`, optional (default = `JainWallaceTokenizer()`)
    token_indexers : `Dict[str, TokenIndexer]`, optional (default = `{"tokens": SingleIdTokenIndexer()}`)
    """

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        **kwargs,
    ) -> None:
        super().__init__(manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs)
        self._tokenizer = tokenizer or JainWallaceTokenizer()
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}

    def _read(self, file_path: str) -> Iterable[Instance]:
        yield from counted(self._read_trees(file_path), self, file_path, lambda: 0)

    def _read_trees(self, file_path: str) -> Iterable[Instance]:
        # Sharded after the neutral trees are dropped, so that max_instances counts sentences, not lines.
        return self.shard_iterable(self._sentences(file_path))

    def _sentences(self, file_path: str) -> Iterable[Instance]:
        with open(file_path, encoding="utf-8") as tree_file:
            for line_number, line in enumerate(tree_file, start=1):
                if not line.strip():
                    continue
                try:
                    fine_label, words = parse_sst_tree(line)
                    label = binary_sentiment(fine_label)
                    if label is not None:
                        yield self.text_to_instance(" ".join(words), label)
                except ValueError as error:
                    raise DatasetFormatError(file_path, line_number, str(error)) from None

    def parse_line(self, line: str) -> Dict[str, Optional[str]]:
        """One tree line as a predictor input: its sentence and binary label (`None` if neutral)."""
        fine_label, words = parse_sst_tree(line)
        return {"sentence": " ".join(words), "label": binary_sentiment(fine_label)}

    def text_to_instance(self, sentence: str, label: Optional[str] = None) -> Instance:  # type: ignore
        return single_text_instance(self._tokenizer, sentence, label, "sentence")

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"].token_indexers = self._token_indexers  # type: ignore
