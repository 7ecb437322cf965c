"""make-dataset's held-out splits are the ones their seed gives: the positions a
`random.Random(seed)` shuffle puts first, taken per label in sorted label order when stratified,
both parts in file order. Derived here by hand from the raw fixtures."""
import csv
import json
import random

import pytest

from attention_perturb.data.builders import held_out, make_dataset
from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader
from attention_perturb.data.raw_formats import newsgroup_examples

SPLITS = ("train", "validation", "test")


def lines(folder, split):
    return [json.loads(line) for line in (folder / f"{split}.jsonl").read_text().splitlines()]


def seeded_positions(count, fraction, seed, shuffler=None):
    """The positions of `count` that a seeded shuffle puts in the first round(fraction * count)."""
    positions = list(range(count))
    (shuffler or random.Random(seed)).shuffle(positions)
    return set(positions[:round(fraction * count)])


def stratified(examples, fraction, seed):
    """(kept, held out) with `fraction` of each label's examples held out, the labels in the order
    of their names (no label as "None"), one shuffler for all of them."""
    shuffler, held = random.Random(seed), set()
    for label in sorted({example["label"] for example in examples}, key=str):
        indices = [index for index, example in enumerate(examples) if example["label"] == label]
        held.update(indices[position] for position in seeded_positions(len(indices), fraction, seed, shuffler))
    return ([example for index, example in enumerate(examples) if index not in held],
            [example for index, example in enumerate(examples) if index in held])


@pytest.mark.parametrize("seed", [1, 2])
def test_agnews_validation_is_the_seeded_15_percent_of_train(tmp_path, seed):
    with open("fixtures/agnews/ag_news_csv/train.csv", encoding="utf-8", newline="") as table:
        train = [{"text": row[2], "label": {"1": "negative", "3": "positive"}[row[0]]}
                 for row in csv.reader(table) if row and row[0] in ("1", "3")]
    held = seeded_positions(len(train), 0.15, seed)
    make_dataset("agnews", "fixtures/agnews", str(tmp_path / "out"), seed=seed)
    assert lines(tmp_path / "out", "validation") == [example for index, example in enumerate(train) if index in held]
    assert lines(tmp_path / "out", "train") == [example for index, example in enumerate(train) if index not in held]


@pytest.mark.parametrize("seed", [1, 2])
def test_20news_test_and_validation_are_the_seeded_stratified_fifths(tmp_path, seed):
    """20 % of the pooled posts held out for test, then 20 % of the rest for validation, both by
    label and both from the seed; then the length rule (more than 6, fewer than 500 words)."""
    folders = [f"fixtures/20news/20news-bydate-{part}" for part in ("train", "test")]
    posts = list(TextClassificationReader().checked(newsgroup_examples(folders)))
    rest, test = stratified(posts, 0.2, seed)
    train, validation = stratified(rest, 0.2, seed)
    make_dataset("20news", "fixtures/20news", str(tmp_path / "out"), seed=seed)
    for split, expected in zip(SPLITS, (train, validation, test)):
        assert lines(tmp_path / "out", split) == [post for post in expected if 6 < len(post["text"].split()) < 500]


def test_examples_without_a_label_are_a_stratum_of_their_own():
    """A stratified hold-out of examples some of which have no label (None), as the unlabelled
    reviews of IMDB: half of each group held out, the unlabelled ones included."""
    examples = [{"text": f"review {n}", "label": label} for n, label in enumerate([None, "positive"] * 4)]
    kept, held = held_out(examples, 0.5, 3, stratify_by="label")
    assert [example["label"] for example in held].count(None) == 2
    assert [example["label"] for example in held].count("positive") == 2
    assert (kept, held) == stratified(examples, 0.5, 3)
