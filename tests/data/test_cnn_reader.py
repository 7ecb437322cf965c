import json
import re

import pytest
from allennlp.data import Vocabulary
from allennlp.data.token_indexers import SingleIdTokenIndexer

from attention_perturb.data.dataset_readers.cnn import CnnReader
from attention_perturb.errors import DatasetFormatError

TRAINING = "fixtures/cnn/cnn/questions/training"  # 12 question files


def question_file(path, passage="@entity1 met @entity2 in london .", question="@placeholder met @entity2",
                  answer="@entity1", entity_lines=("@entity1:the coach", "@entity2:the ceo")):
    lines = ["http://example.com/story.html", "", passage, "", question, "", answer]
    if entity_lines:
        lines += ["", *entity_lines]
    path.write_text("\n".join(lines) + "\n")
    return path


def jsonl(path, *examples):
    path.write_text("".join(json.dumps(example) + "\n" for example in examples))
    return str(path)


def test_question_file_without_entity_names_is_read(tmp_path):
    # The entity names after the answer are not used: a file that stops at the answer line is whole.
    path = tmp_path / "short.question"
    path.write_text("http://example.com\n\n@entity0 won .\n\n@placeholder won\n\n@entity0")
    [instance] = CnnReader().read(str(path))
    assert [t.text for t in instance["passage"].tokens] == ["@entity0", "won", "."]
    assert instance["label"].label == "@entity0"


def test_question_file_with_a_blank_passage_is_a_layout_error_at_line_1(tmp_path):
    path = question_file(tmp_path / "blank.question", passage="")
    expected = f"{path}:1: expected url, passage, question and answer on lines 1, 3, 5 and 7, blank lines between"
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(expected)}$"):
        list(CnnReader().read(str(path)))


def test_folder_without_question_files_is_an_error_naming_it(tmp_path):
    (tmp_path / "notes.txt").write_text("not a question\n")
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(f'no .question files in {tmp_path}')}$"):
        list(CnnReader().read(str(tmp_path)))


def test_candidates_field_is_multi_hot_over_the_answer_labels():
    reader = CnnReader()
    instance = reader.text_to_instance("@entity2 met @entity0 and @entity2 .", "@placeholder met @entity0", "@entity2")
    assert instance["metadata"]["candidates"] == ["@entity2", "@entity0"]
    assert instance["candidates"].labels == ["@entity2", "@entity0"]
    # As the config does: the label vocabulary is @entity0 .. @entity<max_entities - 1>.
    vocab = Vocabulary(tokens_to_add={"labels": [f"@entity{n}" for n in range(4)]})
    reader.apply_token_indexers(instance)
    instance.index_fields(vocab)
    candidates = instance["candidates"].as_tensor(instance["candidates"].get_padding_lengths())
    assert candidates.tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("passage, shown", [
    ("nobody met anybody .", "none"),
    ("@entity0 @entity1 @entity2 @entity3 @entity4 met", "@entity0, @entity1, @entity2, @entity3, @entity4"),
    ("@entity0 @entity1 @entity2 @entity3 @entity4 @entity5 met",
     "@entity0, @entity1, @entity2, @entity3, @entity4, ..."),
])
def test_answer_outside_the_passage_lists_at_most_five_candidates(tmp_path, passage, shown):
    path = jsonl(tmp_path / "data.jsonl", {"passage": passage, "question": "@placeholder met", "label": "@entity9"})
    expected = f"{path}:1: answer '@entity9' is not an entity of the passage ({shown})"
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(expected)}$"):
        list(CnnReader().read(path))


def test_entity_outside_max_entities_says_how_to_fix_it(tmp_path):
    path = jsonl(tmp_path / "data.jsonl", {"passage": "@entity1 met @entity3", "question": "@placeholder met @entity3",
                                           "label": "@entity1"})
    expected = (f"{path}:1: @entity3 is outside the label vocabulary @entity0..@entity2 "
                "(raise the reader's max_entities, which sets the config's entity labels)")
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(expected)}$"):
        list(CnnReader(max_entities=3).read(path))
    assert len(list(CnnReader(max_entities=4).read(path))) == 1


def test_token_indexers_are_the_given_ones_or_single_ids():
    indexers = {"words": SingleIdTokenIndexer(namespace="words")}
    for reader, expected in ((CnnReader(token_indexers=indexers), indexers), (CnnReader(), None)):
        instance = reader.text_to_instance("@entity0 won .", "@placeholder won", "@entity0")
        reader.apply_token_indexers(instance)
        for name in ("passage", "question"):
            given = instance[name].token_indexers
            if expected is not None:
                assert given is expected
            else:
                assert list(given) == ["tokens"] and isinstance(given["tokens"], SingleIdTokenIndexer)
                assert given["tokens"].namespace == "tokens"


def test_max_instances_limits_a_folder_read():
    assert len(list(CnnReader(max_instances=2).read(TRAINING))) == 2
