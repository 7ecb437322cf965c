"""The attention_saliency predictor on a pair model (bAbI): the inputs it takes and the one-line
errors naming the input line that it gives for the ones it cannot predict."""
import json

import pytest
from allennlp.predictors import Predictor

from tests.archives import train_tiny


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp("pair") / "run", config="fixtures/babi_tiny.jsonnet")


@pytest.fixture
def predictor(archive):  # a fresh one per test: the predictor counts the input lines it has read
    return Predictor.from_path(str(archive), predictor_name="attention_saliency")


PASSAGE = "Mary moved to the bathroom . John went to the hallway ."


def test_a_pair_is_predicted_with_attention_over_the_passage(predictor):
    assert predictor.input_keys == ("passage", "question")
    result = predictor.predict_json({"passage": PASSAGE, "question": "Where is Mary ?"})
    assert result["tokens"] == PASSAGE.lower().split()
    assert len(result["attention"]) == len(result["tokens"])


@pytest.mark.parametrize("passage, question, missing", [
    (PASSAGE, "", "the question is empty"),
    (PASSAGE, "   ", "the question is empty"),
    (PASSAGE, None, "the question is empty"),
    ("", "Where is Mary ?", "the passage is empty"),
    ("", " ", "the passage and the question are empty"),
])
def test_an_empty_passage_or_question_is_named(predictor, passage, question, missing):
    line = json.dumps({"passage": passage, "question": question})
    with pytest.raises(ValueError) as raised:
        predictor.predict_batch_json([predictor.load_line(line)])
    assert str(raised.value) == f"input line 1: a pair model needs a passage and a question: {missing}"


def test_a_line_without_the_pair_keys_asks_for_both(predictor):
    with pytest.raises(ValueError) as raised:
        predictor.load_line(json.dumps({"sentence": PASSAGE}))
    assert str(raised.value) == 'input line 1: expected a JSON object with "passage" and "question" keys'
