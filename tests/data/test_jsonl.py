"""`read_jsonl`, the JSON-lines reading of the pair readers and `make-dataset`'s files."""
from attention_perturb.data.jsonl import read_jsonl


def test_every_line_is_read_past_blank_and_bad_lines_with_its_number(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"a": 1, "b": 2}\n\n{"a": \n{"a": 3}\n[1]\n{"a": 4, "b": 5}\n')
    read = list(read_jsonl(str(path), ("a", "b")))
    assert [line for line, _ in read] == [1, 3, 4, 5, 6]
    assert read[0][1] == {"a": 1, "b": 2} and read[4][1] == {"a": 4, "b": 5}
    assert str(read[1][1]) == "malformed JSON (Expecting value)"
    assert str(read[2][1]) == "missing key(s) ['b']"
    assert str(read[3][1]) == "missing key(s) ['a', 'b']"  # not an object


def test_json_lines_are_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    path = tmp_path / "train.jsonl"
    path.write_bytes('{"passage": "Zürich"}\n'.encode("utf-8"))
    assert list(read_jsonl(str(path), ("passage",))) == [(1, {"passage": "Zürich"})]
