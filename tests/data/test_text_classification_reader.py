import json
import logging

import pytest
from allennlp.data.token_indexers import SingleIdTokenIndexer

from attention_perturb.data.dataset_readers.sst import SstTreesReader
from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader

LOGGER = "attention_perturb.data.dataset_readers.text_classification"


def jsonl(path, *examples):
    path.write_text("".join(json.dumps(example) + "\n" for example in examples))
    return str(path)


def test_skipped_examples_are_counted_and_logged_with_file_and_line(tmp_path, caplog):
    path = jsonl(tmp_path / "data.jsonl", {"text": "A fine film.", "label": "positive"},
                 {"text": "So-so.", "label": "neutral"}, {"text": " ", "label": "negative"})
    reader = TextClassificationReader(skip_invalid=True)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert [i["label"].label for i in reader.read(path)] == ["positive"]
    assert reader.skipped == 2
    assert [record.getMessage() for record in caplog.records if record.name == LOGGER] == [
        f"skipping {path}:2: unknown label 'neutral' (expected one of ['negative', 'positive'])",
        f"skipping {path}:3: empty text: there is nothing to classify",
        "skipped 2 invalid examples",
    ]


def test_a_fresh_reader_has_skipped_nothing_and_each_read_counts_its_own(tmp_path):
    reader = TextClassificationReader(skip_invalid=True)
    assert reader.skipped == 0
    bad = jsonl(tmp_path / "bad.jsonl", {"text": "Fine.", "label": "positive"}, {"text": "Hm.", "label": "neutral"})
    good = jsonl(tmp_path / "good.jsonl", {"text": "Bad.", "label": "negative"})
    assert len(list(reader.read(bad))) == 1 and reader.skipped == 1
    assert len(list(reader.read(good))) == 1 and reader.skipped == 0


@pytest.mark.parametrize("reader_class", [TextClassificationReader, SstTreesReader])
def test_token_indexers_are_the_given_ones_or_single_ids(reader_class):
    indexers = {"words": SingleIdTokenIndexer(namespace="words")}
    given_reader, default_reader = reader_class(token_indexers=indexers), reader_class()
    given, default = given_reader.text_to_instance("a film"), default_reader.text_to_instance("a film")
    given_reader.apply_token_indexers(given)
    default_reader.apply_token_indexers(default)
    assert given["tokens"].token_indexers is indexers
    assert list(default["tokens"].token_indexers) == ["tokens"]
    assert isinstance(default["tokens"].token_indexers["tokens"], SingleIdTokenIndexer)
    assert default["tokens"].token_indexers["tokens"].namespace == "tokens"


def test_max_instances_limits_a_read(tmp_path):
    path = jsonl(tmp_path / "data.jsonl", {"text": "Bad.", "label": "negative"}, {"text": "Hm.", "label": "neutral"},
                 {"text": "Good.", "label": "positive"}, {"text": "Fine.", "label": "positive"})
    reader = TextClassificationReader(skip_invalid=True, max_instances=2)
    assert [i["label"].label for i in reader.read(path)] == ["negative", "positive"]
