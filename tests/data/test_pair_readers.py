import json
import logging
import random

import pytest
from allennlp.data.token_indexers import SingleIdTokenIndexer

from attention_perturb.data.builders import RELEASE_SIZES, make_dataset
from attention_perturb.data.dataset_readers.babi_qa import BabiReader
from attention_perturb.data.dataset_readers.nli import NliReader
from attention_perturb.data.dataset_readers.pair import PairReader
from attention_perturb.errors import DatasetFormatError, EmptyDatasetError
from tests.cli import run_cli


def test_babi_raw_questions_carry_their_story_so_far():
    instances = list(BabiReader().read("fixtures/babi/en-10k/qa1_single-supporting-fact_train.txt"))
    assert len(instances) == 10
    first, third = instances[0], instances[2]
    assert [t.text for t in first["passage"].tokens] == "mary moved to the bathroom . john went to the hallway .".split()
    assert [t.text for t in first["question"].tokens] == ["where", "is", "mary", "?"]
    assert first["label"].label == "bathroom"
    assert len(third["passage"].tokens) == 37 and third["label"].label == "hallway"


def test_real_babi_task1_splits_have_the_paper_sizes_and_are_deterministic(tmp_path):
    assert len(list(BabiReader().read("data/babi/en/qa1_single-supporting-fact_train.txt"))) == 1000
    sizes = make_dataset("babi", "data/babi", str(tmp_path / "a"))
    assert sizes == {"train": 8500, "validation": 1500, "test": 1000}
    make_dataset("babi", "data/babi", str(tmp_path / "b"))
    for split in ("train", "validation", "test"):
        assert (tmp_path / "a" / f"{split}.jsonl").read_text() == (tmp_path / "b" / f"{split}.jsonl").read_text()
    make_dataset("babi", "data/babi", str(tmp_path / "c"), seed=1)
    assert (tmp_path / "a" / "validation.jsonl").read_text() != (tmp_path / "c" / "validation.jsonl").read_text()
    # The shipped splits are exactly these.
    assert (tmp_path / "a" / "test.jsonl").read_text() == open("data/babi_task1/test.jsonl").read()
    assert len(list(BabiReader().read(str(tmp_path / "a" / "validation.jsonl")))) == 1500


def fixture_release_sizes(monkeypatch, train, dev, test):
    """The full protocol takes these files as a whole SNLI release."""
    monkeypatch.setitem(RELEASE_SIZES, "snli", {"snli_1.0_train.jsonl": train, "snli_1.0_dev.jsonl": dev, "snli_1.0_test.jsonl": test})


def test_nli_drops_pairs_without_gold_label_and_reads_processed_lines(tmp_path, monkeypatch):
    instances = list(NliReader().read("fixtures/nli/snli_1.0_train.jsonl"))
    assert [i["label"].label for i in instances] == [
        "neutral", "contradiction", "entailment", "entailment", "contradiction"
    ]
    assert [t.text for t in instances[3]["question"].tokens] == ["there", "are", "children", "present"]
    fixture_release_sizes(monkeypatch, 5, 5, 5)
    sizes = make_dataset("snli", "fixtures/nli", str(tmp_path / "snli"))
    assert sizes == {"train": 5, "validation": 5, "test": 5}
    processed = list(NliReader().read(str(tmp_path / "snli" / "train.jsonl")))
    assert [i["label"].label for i in processed] == [i["label"].label for i in instances]


@pytest.mark.parametrize(
    "reader, text, problem, line, valid",
    [
        (NliReader, '{"gold_label": "neutral", "sentence1": "a", "sentence2": "b"}\n{"gold_label": "ent', "malformed JSON", 2, 1),
        (NliReader, '{"gold_label": "maybe", "sentence1": "a", "sentence2": "b"}\n', "unknown label 'maybe'", 1, 0),
        (BabiReader, "1 Mary went home.\n2 John left.\n1 Sandra ran.\n2 Where is Sandra?\tgarden\t1\n", "story has no question", 1, 1),
    ],
)
def test_bad_input_names_file_and_line_or_is_skipped_on_request(tmp_path, reader, text, problem, line, valid):
    path = tmp_path / ("data.jsonl" if reader is NliReader else "qa1_train.txt")
    path.write_text(text)
    with pytest.raises(DatasetFormatError, match=rf"{path.name}:{line}: {problem}"):
        list(reader().read(str(path)))
    lenient = reader(skip_invalid=True)
    if valid:
        assert len(list(lenient.read(str(path)))) == valid and lenient.skipped == 1
    else:  # nothing left to read is an error, with the count
        with pytest.raises(EmptyDatasetError, match=rf"{path.name}: nothing to read: all 1 examples in it are invalid"):
            list(lenient.read(str(path)))


def test_make_dataset_leaves_no_half_written_output(tmp_path, monkeypatch):
    fixture_release_sizes(monkeypatch, 5, 5, 1)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "snli_1.0_train.jsonl").write_text(open("fixtures/nli/snli_1.0_train.jsonl").read())
    (raw / "snli_1.0_dev.jsonl").write_text(open("fixtures/nli/snli_1.0_train.jsonl").read())
    (raw / "snli_1.0_test.jsonl").write_text('{"gold_label": "neutral", "sentence1": "a", "sent')
    with pytest.raises(DatasetFormatError, match="snli_1.0_test.jsonl:1: malformed JSON"):
        make_dataset("snli", str(raw), str(tmp_path / "out"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]
    sizes = make_dataset("snli", str(raw), str(tmp_path / "out"), skip_invalid=True)
    assert sizes["test"] == 0
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["sizes"] == sizes
    with pytest.raises(FileExistsError, match="already exists"):
        make_dataset("snli", str(raw), str(tmp_path / "out"))


QA2_TRAIN = """1 Mary moved to the bathroom.
2 Sandra journeyed to the bedroom.
3 Mary got the football there.
4 Where is the football?\tbathroom\t3 1
5 Mary went back to the kitchen.
6 Where is the football?\tkitchen\t3 5
1 John took the apple.
2 John went to the garden.
3 Where is the apple?\tgarden\t1 2
4 Daniel moved to the office.
5 Where is the apple?\tgarden\t1 2
"""
QA2_TEST = """1 Sandra picked up the milk.
2 Sandra travelled to the hallway.
3 Where is the milk?\thallway\t1 2
"""


def test_make_dataset_babi_task_2_from_the_release_layout(tmp_path, monkeypatch, capsys):
    """`--task 2` reads the qa2 files of `tasks_1-20_v1-2/en-10k`, not task 1's beside them."""
    release = tmp_path / "tasks_1-20_v1-2" / "en-10k"
    release.mkdir(parents=True)
    for split in ("train", "test"):
        (release / f"qa1_single-supporting-fact_{split}.txt").write_text(
            open(f"fixtures/babi/en-10k/qa1_single-supporting-fact_{split}.txt").read())
    (release / "qa2_two-supporting-facts_train.txt").write_text(QA2_TRAIN)
    (release / "qa2_two-supporting-facts_test.txt").write_text(QA2_TEST)
    output = tmp_path / "babi2"
    printed = run_cli(monkeypatch, capsys, "make-dataset", "babi", tmp_path, "-o", output, "--task", "2")
    assert f"wrote {output}: train 3, validation 1, test 1" in printed

    story = "Mary moved to the bathroom. Sandra journeyed to the bedroom. Mary got the football there."
    train = [
        {"passage": story, "question": "Where is the football?", "label": "bathroom"},
        {"passage": story + " Mary went back to the kitchen.", "question": "Where is the football?", "label": "kitchen"},
        {"passage": "John took the apple. John went to the garden.", "question": "Where is the apple?", "label": "garden"},
        {"passage": "John took the apple. John went to the garden. Daniel moved to the office.",
         "question": "Where is the apple?", "label": "garden"},
    ]
    written = {split: [json.loads(line) for line in (output / f"{split}.jsonl").read_text().splitlines()]
               for split in ("train", "validation", "test")}
    assert written["test"] == [{"passage": "Sandra picked up the milk. Sandra travelled to the hallway.",
                                "question": "Where is the milk?", "label": "hallway"}]
    # 15 % of the four train questions (one, by the seeded shuffle) held out, both parts in file order.
    order = list(range(4))
    random.Random(16377).shuffle(order)
    assert written["validation"] == [train[order[0]]]
    assert written["train"] == [example for index, example in enumerate(train) if index != order[0]]
    meta = json.loads((output / "meta.json").read_text())
    assert meta["task"] == 2 and meta["sizes"] == {"train": 3, "validation": 1, "test": 1}


PAIR_LOGGER = "attention_perturb.data.dataset_readers.pair"


def test_skipped_examples_are_counted_and_logged_with_file_and_line(tmp_path, caplog):
    path = tmp_path / "data.jsonl"
    path.write_text('{"passage": "a", "question": "b"}\n'
                    '{"passage": "John left.", "question": "Who left?", "label": "john"}\n'
                    '{"passage": "a", "question": "b", "label": "c"\n')
    reader = PairReader(skip_invalid=True)
    with caplog.at_level(logging.WARNING, logger=PAIR_LOGGER):
        assert [i["label"].label for i in reader.read(str(path))] == ["john"]
    assert reader.skipped == 2
    messages = [record.getMessage() for record in caplog.records if record.name == PAIR_LOGGER]
    assert messages[0] == f"skipping {path}:1: missing key(s) ['label']"
    assert messages[1].startswith(f"skipping {path}:3: malformed JSON (")
    assert messages[2:] == [f"{path}: skipped 2 invalid examples"]


def test_examples_of_processed_lines_keep_only_passage_question_and_label(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"id": 7, "passage": "John left.", "question": "Who left?", "label": "john"}\n')
    assert list(PairReader().checked_examples(str(path))) == [
        {"passage": "John left.", "question": "Who left?", "label": "john"}
    ]


def test_instance_metadata_holds_the_words_of_passage_and_question():
    instance = PairReader().text_to_instance("Mary went to the 2nd room.", "Where is Mary?", "room")
    assert instance["metadata"]["passage_words"] == ["mary", "went", "to", "the", "qq", "room", "."]
    assert instance["metadata"]["question_words"] == ["where", "is", "mary", "?"]
    assert [t.text for t in instance["question"].tokens] == ["where", "is", "mary", "?"]
    assert instance["label"].label == "room"


@pytest.mark.parametrize("passage, question", [("  ", "Where is Mary?"), ("Mary left.", ""), ("", " ")])
def test_empty_passage_or_question_is_refused(passage, question):
    with pytest.raises(ValueError, match=r"^empty passage or question$"):
        PairReader().text_to_instance(passage, question, "kitchen")


def test_token_indexers_apply_to_passage_and_question():
    indexers = {"words": SingleIdTokenIndexer(namespace="words")}
    reader = NliReader(token_indexers=indexers)
    instance = reader.text_to_instance("A man sleeps.", "Nobody sleeps.", "contradiction")
    reader.apply_token_indexers(instance)
    assert instance["passage"].token_indexers is indexers and instance["question"].token_indexers is indexers


def test_a_reader_that_has_read_nothing_has_skipped_nothing():
    assert PairReader().skipped == 0
