"""AG News' raw CSV read record by record: blank lines skipped (not the end of the file), quoted
fields spanning lines kept whole, and each error located at the line its record starts on."""
import pytest

from attention_perturb.data.dataset_readers.sst import NEGATIVE, POSITIVE
from attention_perturb.data.raw_formats import ag_news_examples


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
