"""SNLI / MultiNLI lines, raw (`sentence1`, `sentence2`, `gold_label`) or processed (`passage`,
`question`, `label`): a line missing one of its keys is an error naming file, line and the keys."""
import pytest

from attention_perturb.data.dataset_readers.nli import NliReader
from attention_perturb.errors import DatasetFormatError


@pytest.mark.parametrize(
    "line, missing",
    [('{"gold_label": "neutral", "sentence1": "A man sleeps."}', "['sentence2']"),  # raw
     ('{"sentence1": "A man sleeps.", "sentence2": "A man rests."}', "['gold_label']"),
     ('{"passage": "A man sleeps.", "question": "A man rests."}', "['label']"),  # processed
     ('{"passage": "A man sleeps."}', "['question', 'label']")],
)
def test_a_line_missing_keys_names_file_line_and_keys(tmp_path, line, missing):
    path = tmp_path / "dev.jsonl"
    path.write_text('{"gold_label": "entailment", "sentence1": "A dog runs.", "sentence2": "An animal moves."}\n'
                    + line + "\n")
    with pytest.raises(DatasetFormatError) as raised:
        list(NliReader().read(str(path)))
    assert str(raised.value) == f"{path}:2: missing key(s) {missing}"


def test_raw_and_processed_lines_give_the_same_pair(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text('{"gold_label": "contradiction", "sentence1": "A dog runs.", "sentence2": "A cat sleeps."}\n'
                    '{"passage": "A dog runs.", "question": "A cat sleeps.", "label": "contradiction"}\n')
    pair = {"passage": "A dog runs.", "question": "A cat sleeps.", "label": "contradiction"}
    assert list(NliReader().examples(str(path))) == [(1, pair), (2, pair)]
