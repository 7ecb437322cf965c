import csv
import re
from collections import Counter

import pytest

from attention_perturb.data.dataset_readers.cnn import AnonymisedEntityTokenizer

from attention_perturb.data.dataset_readers.sst import SstTreesReader, parse_sst_tree, single_text_instance
from attention_perturb.errors import DatasetFormatError
from attention_perturb.data.tokenizers import JainWallaceTokenizer


def test_shipped_sst_has_the_paper_split_sizes_and_matches_jain_wallace_csv():
    reader = SstTreesReader()
    counts = {split: Counter() for split in ("train", "dev", "test")}
    for split in counts:
        for instance in reader.read(f"data/sst/{split}.txt"):
            counts[split][instance["label"].label] += 1
    assert {split: sum(c.values()) for split, c in counts.items()} == {"train": 6920, "dev": 872, "test": 1821}
    with open("data/sst/jain_wallace_sst_dataset.csv", newline="") as csv_file:
        rows = list(csv.DictReader(csv_file))
    for split in counts:
        labels = Counter(row["label"] for row in rows if row["exp_split"] == split)
        assert labels["1"] == counts[split]["positive"]
        assert labels["0"] == counts[split]["negative"]


def test_root_label_decides_and_neutral_is_dropped(tmp_path):
    trees = tmp_path / "trees.txt"
    trees.write_text(
        "(0 (1 Awful) (2 film))\n"
        "(2 (2 A) (2 film))\n"
        "(4 (3 (2 It) (4 (2 -LRB-) (4 great) (2 -RRB-))) (2 (2 in) (2 1999)))\n"
        "(3 (2 co-writer\\/director) (3 shines))\n"
    )
    instances = list(SstTreesReader().read(str(trees)))
    assert [i["label"].label for i in instances] == ["negative", "positive", "positive"]
    assert [t.text for t in instances[1]["tokens"].tokens] == ["it", "(", "great", ")", "in", "qq"]
    assert "co" in [t.text for t in instances[2]["tokens"].tokens]


def test_tokenizer_lowercases_and_maps_numbers_to_qq():
    tokens = [t.text for t in JainWallaceTokenizer().tokenize("The 2nd Film of 1999 costs $5, Wow!")]
    assert tokens == ["the", "qq", "film", "of", "qq", "costs", "$", "qq", ",", "wow", "!"]


@pytest.mark.parametrize("tokenizer, first_text, second_text", [
    (JainWallaceTokenizer(), "The film, THE film 7", "the Film of 1999"),
    (AnonymisedEntityTokenizer(), "the film , the film 7", "the film of 1999"),
])
def test_equal_words_share_one_token_across_texts(tokenizer, first_text, second_text):
    first, second = tokenizer.tokenize(first_text), tokenizer.tokenize(second_text)
    assert [t.text for t in first] == ["the", "film", ",", "the", "film", "qq"]
    assert first[0] is first[3] is second[0] and first[1] is first[4] is second[1] and first[5] is second[3]
    assert first[0] is not first[1] and len({id(t) for t in first + second}) == 5


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        ("(3 (2 good) (3 film)", "unbalanced parentheses"),
        ("(3 (2 good))) ((3 film)", "unbalanced parentheses"),  # closes more than it opened, then reopens
        ("3 (2 good) (3 film))", "expected a tree starting with '(<label 0-4> '"),
        ("(7 (2 good) (3 film))", "expected a tree starting with '(<label 0-4> '"),
        ("(3 )", "tree has no words"),
    ],
)
def test_malformed_tree_names_file_and_line(tmp_path, bad_line, problem):
    trees = tmp_path / "trees.txt"
    trees.write_text("(3 (2 good) (3 film))\n\n" + bad_line + "\n")
    with pytest.raises(DatasetFormatError, match=f"^{re.escape(f'{trees}:3: {problem}')}$"):
        list(SstTreesReader().read(str(trees)))


def test_empty_sentence_is_rejected_clearly():
    with pytest.raises(ValueError, match="empty sentence"):
        SstTreesReader().text_to_instance("   ")


def test_parse_returns_root_label_and_unescaped_leaves():
    assert parse_sst_tree("(1 (2 -LRB-) (1 bad\\/worse))") == (1, ["(", "bad/worse"])


def test_parse_line_gives_a_predictor_the_sentence_and_its_binary_label():
    reader = SstTreesReader()
    assert reader.parse_line("(4 (3 (2 -LRB-) (4 great)) (2 -RRB-))\n") == {"sentence": "( great )", "label": "positive"}
    assert reader.parse_line("(1 (2 bad\\/worse) (1 film))") == {"sentence": "bad/worse film", "label": "negative"}
    assert reader.parse_line("(2 (2 a) (2 film))") == {"sentence": "a film", "label": None}


def test_max_instances_counts_sentences_not_the_neutral_lines_dropped(tmp_path):
    trees = tmp_path / "trees.txt"
    trees.write_text("(0 (0 awful))\n(2 (2 so-so))\n\n(4 (4 great))\n(3 (3 good))\n")
    assert [i["label"].label for i in SstTreesReader(max_instances=2).read(str(trees))] == ["negative", "positive"]


def test_trees_are_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    trees = tmp_path / "trees.txt"
    trees.write_text("(3 (2 caf\u00e9) (3 na\u00efve))\n", encoding="utf-8")
    instances = list(SstTreesReader().read(str(trees)))
    assert [t.text for t in instances[0]["tokens"].tokens] == ["caf\u00e9", "na\u00efve"]


def test_a_single_text_instance_holds_its_text_words_and_label_and_names_an_empty_text():
    """What every single-text reader gives the classifier, and the predictors' dumps read."""
    tokenizer = JainWallaceTokenizer()
    instance = single_text_instance(tokenizer, "A Fine film", "1")
    assert instance["metadata"].metadata == {"sentence": "A Fine film", "words": ["a", "fine", "film"]}
    assert [token.text for token in instance["tokens"].tokens] == ["a", "fine", "film"]
    assert instance["label"].label == "1"
    assert "label" not in single_text_instance(tokenizer, "film", None).fields
    with pytest.raises(ValueError, match="^empty text: there is nothing to classify$"):
        single_text_instance(tokenizer, "   ", "1")
