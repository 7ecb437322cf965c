"""The raw downloads as `(file, line, example or problem)`: AG News' CSV read record by record
(blank lines skipped, not the end of the file; quoted fields spanning lines kept whole; each error
located at the line its record starts on), SST trees line by line, IMDB reviews as UTF-8 files and
20 Newsgroups posts as Latin-1 files in numeric order, stripped of header, quotes and signature."""
import os

import pytest

from attention_perturb.data.dataset_readers.sst import NEGATIVE, POSITIVE
from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader
from attention_perturb.data.raw_formats import (
    ag_news_examples,
    imdb_examples,
    newsgroup_examples,
    sst_examples,
    strip_newsgroup_post,
    utf8_text,
)
from attention_perturb.errors import DatasetFormatError


def test_ag_news_records_keep_their_labels_and_their_first_lines(tmp_path):
    table = tmp_path / "train.csv"
    table.write_bytes(
        b'"1","Title","A world description"\r\n'                # line 1: World -> negative
        b'\r\n'                                                  # line 2: blank, skipped
        b'"3","Title","Business,\r\nover two lines \xc3\xa9"\r\n'  # lines 3-4: one record, UTF-8
        b'"2","Sports","not used"\r\n'                          # line 5: Sports is dropped
        b'"9","Title","an unknown class"\r\n'                   # line 6
        b'"1","only two columns"\r\n'                           # line 7
    )
    examples = [(line, example) for _, line, example in ag_news_examples(str(table))]
    assert examples[:2] == [(1, {"text": "A world description", "label": NEGATIVE}),  # World
                            (3, {"text": "Business,\r\nover two lines é", "label": POSITIVE})]  # Business
    (unknown_line, unknown), (short_line, short) = examples[2:]
    assert (unknown_line, str(unknown)) == (6, "unknown class '9' (expected 1..4)")
    assert (short_line, str(short)) == (7, "expected 3 columns (class, title, description), found 2")
    assert all(path == str(table) for path, _, _ in ag_news_examples(str(table)))


@pytest.mark.parametrize("blank", [b"\r\n", b"\n"])
def test_a_blank_line_does_not_end_the_table(tmp_path, blank):
    table = tmp_path / "test.csv"
    table.write_bytes(b'"1","a","first"\n' + blank + blank + b'"3","b","after the blank lines"\n')
    assert [line for _, line, _ in ag_news_examples(str(table))] == [1, 4]


def test_sst_and_ag_news_are_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    trees = tmp_path / "train.txt"
    trees.write_bytes("(3 (2 Café) (3 crème))\n".encode("utf-8"))
    table = tmp_path / "train.csv"
    table.write_bytes('"3","Banks","Zürich bank"\n'.encode("utf-8"))
    assert list(sst_examples(str(trees))) == [(str(trees), 1, {"text": "Café crème", "label": POSITIVE})]
    assert list(ag_news_examples(str(table))) == [(str(table), 1, {"text": "Zürich bank", "label": POSITIVE})]


def test_sst_trees_keep_their_line_numbers_past_blank_and_bad_lines(tmp_path):
    trees = tmp_path / "dev.txt"
    trees.write_text(
        "(4 (2 A) (4 (4 fine) (2 film)))\n"  # line 1: 4 -> positive
        "\n"                                 # line 2: blank, skipped
        "(1 (1 dull)\n"                      # line 3: unbalanced
        "(2 (2 so-so))\n"                    # line 4: neutral, dropped
        "(1 (1 Dull) (2 plot))\n"            # line 5: 1 -> negative
    )
    examples = [(line, example) for _, line, example in sst_examples(str(trees))]
    assert [line for line, _ in examples] == [1, 3, 5]
    assert examples[0][1] == {"text": "A fine film", "label": POSITIVE}
    assert str(examples[1][1]) == "unbalanced parentheses"
    assert examples[2][1] == {"text": "Dull plot", "label": NEGATIVE}


def test_a_utf8_file_is_one_text_starting_on_line_1(tmp_path):
    review = tmp_path / "0_9.txt"
    review.write_bytes("Great film.\nSee it, s’il vous plaît.\n".encode("utf-8"))
    assert utf8_text(str(review)) == (1, "Great film.\nSee it, s’il vous plaît.\n")


def test_bytes_that_are_not_utf8_are_located_on_their_line(tmp_path):
    review = tmp_path / "1_2.txt"
    review.write_bytes(b"first line\nsecond\n\xff bad byte\n")  # 11 + 7 bytes before the bad one
    line, problem = utf8_text(str(review))
    assert (line, str(problem)) == (3, "not UTF-8 text (invalid start byte at byte 18)")


def write_files(folder, contents):
    """An IMDB split or a 20News by-date folder: {relative path: bytes}."""
    for name, content in contents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def test_imdb_reviews_are_labelled_by_folder_in_file_name_order(tmp_path):
    write_files(tmp_path, {"neg/1_2.txt": b"Dull.\n", "neg/0_1.txt": b" Awful. ", "pos/0_9.txt": b"Fine.",
                          "unsup/0_0.txt": b"Never read."})
    assert list(imdb_examples(str(tmp_path))) == [
        (str(tmp_path / "neg" / "0_1.txt"), 1, {"text": "Awful.", "label": NEGATIVE}),
        (str(tmp_path / "neg" / "1_2.txt"), 1, {"text": "Dull.", "label": NEGATIVE}),
        (str(tmp_path / "pos" / "0_9.txt"), 1, {"text": "Fine.", "label": POSITIVE}),
    ]


@pytest.mark.parametrize(
    "review, problem",
    [(b"Good.\nThen \xe9\n", "2: not UTF-8 text (invalid continuation byte at byte 11)"),  # Latin-1 e acute
     (b" \n\n", "1: empty text: there is nothing to classify")],
)
def test_a_bad_imdb_review_names_its_file_and_line(tmp_path, review, problem):
    write_files(tmp_path, {"neg/0_1.txt": b"Awful.", "pos/0_9.txt": review})
    with pytest.raises(DatasetFormatError) as raised:
        list(TextClassificationReader().checked(imdb_examples(str(tmp_path))))
    assert str(raised.value) == f"{tmp_path / 'pos' / '0_9.txt'}:{problem}"


def test_an_imdb_split_without_reviews_of_a_label_names_its_folder(tmp_path):
    write_files(tmp_path, {"neg/0_1.txt": b"Awful."})
    with pytest.raises(FileNotFoundError) as raised:
        list(imdb_examples(str(tmp_path)))
    assert str(raised.value) == f"no reviews in {os.path.join(str(tmp_path), 'pos')}"


def test_newsgroup_posts_are_read_in_numeric_order_of_their_names(tmp_path):
    # The release names posts by number: 9 comes before 10 (not as strings); names that are not
    # numbers come after the numbered ones, by name.
    write_files(tmp_path, {f"rec.sport.baseball/{name}": b"Subject: s\n\nPost " + name.encode() + b"\n"
                           for name in ("10", "9", "b", "a", "100")})
    write_files(tmp_path, {"rec.sport.hockey/2": b"Subject: s\n\nHockey post\n"})
    examples = list(newsgroup_examples([str(tmp_path)]))
    assert [os.path.basename(path) for path, _, _ in examples] == ["9", "10", "100", "a", "b", "2"]
    assert examples[0] == (str(tmp_path / "rec.sport.baseball" / "9"), 1, {"text": "post qq", "label": NEGATIVE})
    assert examples[3] == (str(tmp_path / "rec.sport.baseball" / "a"), 1, {"text": "post a", "label": NEGATIVE})
    assert examples[-1] == (str(tmp_path / "rec.sport.hockey" / "2"), 1, {"text": "hockey post", "label": POSITIVE})


def test_newsgroup_posts_are_read_as_latin1(tmp_path):
    write_files(tmp_path, {"rec.sport.baseball/1": b"Subject: s\n\nCaf\xe9 au lait\n",  # Latin-1 e acute
                           "rec.sport.hockey/1": b"Subject: s\n\nGo \xc9quipe\n"})
    assert [example for _, _, example in newsgroup_examples([str(tmp_path)])] == [
        {"text": "café au lait", "label": NEGATIVE}, {"text": "go équipe", "label": POSITIVE}]


def test_a_bydate_folder_without_posts_of_a_group_names_the_folder(tmp_path):
    write_files(tmp_path, {"rec.sport.baseball/1": b"Subject: s\n\nA post\n"})
    with pytest.raises(FileNotFoundError) as raised:
        list(newsgroup_examples([str(tmp_path)]))
    assert str(raised.value) == f"no posts in {os.path.join(str(tmp_path), 'rec.sport.hockey')}"


@pytest.mark.parametrize(
    "body, kept",
    [("Great game.\n--", "Great game."),  # a line of dashes, even the last one, starts the signature
     ("Great game.\n-- \nJohn, Boston", "Great game."),  # dashes followed by a space
     ("Great game.\n\nJohn, Boston", "Great game."),  # the blank line after the first line
     ("Line one\nLine two\n\nJohn\nBoston", "Line one\nLine two"),
     ("Line one\n\nLine two\n\nJohn\nBoston", "Line one\n\nLine two"),  # the last blank line
     ("Score was\nXXX\nfor them", "Score was\nXXX\nfor them")],  # not dashes: no signature
)
def test_newsgroup_signature_starts_at_the_last_line_of_dashes_or_blank_line(body, kept):
    assert strip_newsgroup_post("From: fan@school.edu\nSubject: game\n\n" + body + "\n") == kept
