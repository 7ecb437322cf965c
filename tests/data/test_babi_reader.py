"""The raw bAbI reader (`babi_examples` behind `BabiReader`) on small task files written by hand:
what a passage is, where a story starts and ends, and the errors that name file and line."""
import pytest

from attention_perturb.data.dataset_readers.babi_qa import BabiReader
from attention_perturb.errors import DatasetFormatError


def task_file(tmp_path, text, name="qa1_train.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def examples(path, **options):
    reader = BabiReader(**options)
    return list(reader.checked_examples(path)), reader


def test_a_blank_line_between_stories_is_skipped_and_reading_goes_on(tmp_path):
    path = task_file(tmp_path, "1 Mary went home.\n2 Where is Mary?\thome\t1\n\n"
                               "1 John left.\n2 John went to the garden.\n3 Where is John?\tgarden\t2\n")
    read, _ = examples(path)
    assert read == [
        {"passage": "Mary went home.", "question": "Where is Mary?", "label": "home"},
        {"passage": "John left. John went to the garden.", "question": "Where is John?", "label": "garden"},
    ]


def test_a_file_that_starts_inside_a_story_reads_its_statements_as_the_passage(tmp_path):
    """An excerpt of a task file whose first line is not numbered 1: its statements so far are
    the passage of its first question."""
    path = task_file(tmp_path, "4 Mary went home.\n5 Where is Mary?\thome\t4\n"
                               "1 John left.\n2 Where is John?\tgarden\t1\n")
    read, _ = examples(path)
    assert read == [{"passage": "Mary went home.", "question": "Where is Mary?", "label": "home"},
                    {"passage": "John left.", "question": "Where is John?", "label": "garden"}]


@pytest.mark.parametrize("text, line, problem", [
    ("1 Mary went home.\nMary went home.\n3 Where is Mary?\thome\t1\n", 2, "expected '<number> <text>'"),
    ("1 Mary went home.\n2\n3 Where is Mary?\thome\t1\n", 2, "expected '<number> <text>'"),
    ("1 Mary went home.\n2 Where is Mary?\t\t1\n3 Where is Mary?\thome\t1\n", 2, "question without an answer"),
    ("1 Where is Mary?\thome\t1\n2 Mary went home.\n3 Where is Mary?\thome\t2\n", 1,
     "question before any statement of its story"),
])
def test_a_bad_line_names_file_line_and_problem_or_is_skipped_and_the_rest_read(tmp_path, text, line, problem):
    path = task_file(tmp_path, text)
    with pytest.raises(DatasetFormatError) as raised:
        examples(path)
    assert str(raised.value) == f"{path}:{line}: {problem}"
    read, reader = examples(path, skip_invalid=True)
    assert reader.skipped == 1
    assert read == [{"passage": "Mary went home.", "question": "Where is Mary?", "label": "home"}]


def test_an_excerpt_starting_inside_a_story_without_a_question_is_named_at_its_first_line(tmp_path):
    path = task_file(tmp_path, "4 Mary went home.\n5 John left.\n1 Sandra ran.\n2 Where is Sandra?\tgarden\t1\n")
    with pytest.raises(DatasetFormatError) as raised:
        examples(path)
    assert str(raised.value) == f"{path}:1: story has no question"


def test_the_last_story_without_a_question_is_named_at_its_first_line(tmp_path):
    path = task_file(tmp_path, "1 Sandra ran.\n2 Where is Sandra?\tgarden\t1\n1 Mary went home.\n2 John left.\n")
    with pytest.raises(DatasetFormatError) as raised:
        examples(path)
    assert str(raised.value) == f"{path}:3: story has no question"
    read, reader = examples(path, skip_invalid=True)
    assert reader.skipped == 1 and [example["label"] for example in read] == ["garden"]


def test_task_files_are_read_as_utf8_whatever_the_locale(tmp_path, ascii_locale):
    path = task_file(tmp_path, "1 Zoë went to the café.\n2 Where is Zoë?\tcafé\t1\n")
    read, _ = examples(path)
    assert read == [{"passage": "Zoë went to the café.", "question": "Where is Zoë?", "label": "café"}]
