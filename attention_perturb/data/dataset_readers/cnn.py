import glob
import os
import re
from typing import Dict, Iterator, List, Optional, Tuple

from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import MultiLabelField
from allennlp.data.token_indexers import TokenIndexer
from allennlp.data.tokenizers import Token, Tokenizer

from attention_perturb.data.dataset_readers.pair import Example, ExampleOrProblem, PairReader
from attention_perturb.data.tokenizers import SharedTokens

ENTITY = re.compile(r"@entity\d+")
ANSWER_LINE = 7  # a question file: url, passage, question, answer on lines 1, 3, 5, 7, blank lines between


def passage_entities(passage: str) -> List[str]:
    """The answer candidates: the distinct entity markers of a passage, in order of appearance."""
    return list(dict.fromkeys(word for word in passage.split() if ENTITY.fullmatch(word)))


def cnn_question_example(path: str) -> Iterator[Tuple[int, ExampleOrProblem]]:
    """
    The question of one file of the CNN release (Hermann et al. 2015, `questions/*/*.question`):
    url, passage, question (with `@placeholder`), answer (an `@entityN`), then the entity names
    (`@entityN:name`, not used), each followed by a blank line. The example is located at the
    answer line.
    """
    with open(path, encoding="utf-8") as question_file:
        lines = question_file.read().split("\n")
    layout_ok = len(lines) >= ANSWER_LINE and all(lines[n - 1].strip() == "" for n in (2, 4, 6))
    if not layout_ok or not all(lines[n - 1].strip() for n in (3, 5, ANSWER_LINE)):
        yield 1, ValueError("expected url, passage, question and answer on lines 1, 3, 5 and 7, blank lines between")
        return
    yield ANSWER_LINE, {"passage": lines[2].strip(), "question": lines[4].strip(), "label": lines[6].strip()}


@Tokenizer.register("anonymised_entities")
class AnonymisedEntityTokenizer(Tokenizer):
    """
    For the CNN release, whose text is already tokenised, lower-cased and anonymised: splits on
    whitespace and applies Jain & Wallace's digit rule (a token containing a digit becomes
    `number_token`) to every token but the entity markers `@entityN`, which are the answer
    candidates and must stay distinct. Equal words share one `Token` (`SharedTokens`).

    # Parameters

    number_token : `str`, optional (default = `"qq"`)
    """

    def __init__(self, number_token: str = "qq") -> None:
        self._number_token = number_token
        self._shared_token = SharedTokens()

    def tokenize(self, text: str) -> List[Token]:
        return [self._shared_token(self.normalize(word)) for word in text.split()]

    def normalize(self, word: str) -> str:
        if ENTITY.fullmatch(word) or not any(character.isdigit() for character in word):
            return word.lower()
        return self._number_token


@DatasetReader.register("cnn")
class CnnReader(PairReader):
    """
    CNN question answering (Hermann et al. 2015) for the pair model: the passage, the question
    with its `@placeholder`, and the answer entity `@entityN` as label. The candidates are the
    entities of the passage (kept in `metadata["candidates"]`, and as the multi-hot `candidates`
    field over the answer labels that restricts the model's softmax, as in Jain & Wallace); an
    answer that is not one of them is an error naming file and line (or, with `skip_invalid`,
    counted and skipped).

    Reads the JSON lines of `allennlp make-dataset cnn` (`.jsonl`), one raw `.question` file, or a
    folder of them (`questions/test`), in file-name order.

    # Parameters

    tokenizer : `Tokenizer`, optional (default = `AnonymisedEntityTokenizer()`)
    token_indexers : `Dict[str, TokenIndexer]`, optional (default = `{"tokens": SingleIdTokenIndexer()}`)
    skip_invalid : `bool`, optional (default = `False`)
    max_entities : `int`, optional (default = `None`)
        The label vocabulary's entities are `@entity0` .. `@entity<max_entities - 1>` (the config adds
        them all); an example naming another is an error naming file and line instead of an
        unknown-label KeyError while indexing. `None`: not checked.
    """

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        skip_invalid: bool = False,
        max_entities: Optional[int] = None,
        **kwargs,
    ) -> None:
        super().__init__(tokenizer or AnonymisedEntityTokenizer(), token_indexers, skip_invalid, **kwargs)
        self.max_entities = max_entities
        self._entity_labels = None if max_entities is None else {f"@entity{n}" for n in range(max_entities)}

    def examples(self, file_path: str) -> Iterator[Tuple[int, ExampleOrProblem]]:
        if file_path.endswith(".jsonl"):
            return super().examples(file_path)
        return cnn_question_example(file_path)

    def validate(self, example: Example) -> None:
        super().validate(example)
        candidates = passage_entities(example["passage"] or "")
        if example["label"] is not None and example["label"] not in candidates:
            shown = ", ".join(candidates[:5]) + (", ..." if len(candidates) > 5 else "")
            raise ValueError(f"answer {example['label']!r} is not an entity of the passage ({shown or 'none'})")
        if self._entity_labels is not None:
            for entity in candidates:
                if entity not in self._entity_labels:  # also @entity007, which is not @entity7
                    raise ValueError(
                        f"{entity} is outside the label vocabulary @entity0..@entity{self.max_entities - 1} "
                        "(raise the reader's max_entities, which sets the config's entity labels)"
                    )

    def checked_examples(self, file_path: str) -> Iterator[Example]:
        if not os.path.isdir(file_path):
            yield from super().checked_examples(file_path)
            return
        question_files = sorted(glob.glob(os.path.join(file_path, "*.question")))
        if not question_files:
            raise FileNotFoundError(f"no .question files in {file_path}")
        skipped = 0
        for question_file in question_files:
            yield from super().checked_examples(question_file)
            skipped += self.skipped
        self.skipped = skipped

    def text_to_instance(  # type: ignore
        self, passage: str, question: str, label: Optional[str] = None
    ) -> Instance:
        instance = super().text_to_instance(passage, question, label)
        candidates = passage_entities(passage)
        instance["metadata"].metadata["candidates"] = candidates  # type: ignore
        # Multi-hot over the answer labels: the model's softmax runs over these entities only.
        instance.add_field("candidates", MultiLabelField(candidates, label_namespace="labels"))
        return instance
