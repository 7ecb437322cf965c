"""make-dataset and the readers for SST, IMDB, 20News, AGNews and CNN, on the raw-format fixtures
(made up, in the exact layout of each public download) and on the shipped SST trees."""
import glob
import json
import os
import shutil

import pytest

from attention_perturb.data.builders import RELEASE_SIZES, make_dataset, write_splits
from attention_perturb.data.dataset_readers.cnn import CnnReader
from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader
from attention_perturb.errors import DatasetFormatError, PartialReleaseError, SettingError
from attention_perturb.data.raw_formats import imdb_word_count, strip_newsgroup_post

SPLITS = ("train", "validation", "test")


def lines(folder, split):
    with open(os.path.join(folder, f"{split}.jsonl"), encoding="utf-8") as jsonl:
        return [json.loads(line) for line in jsonl]


def test_real_sst_trees_give_the_paper_sizes_and_root_labels(tmp_path):
    sizes = make_dataset("sst", "data/sst", str(tmp_path / "sst"))
    assert sizes == {"train": 6920, "validation": 872, "test": 1821}
    for split, name in zip(SPLITS, ("train", "dev", "test")):
        roots = [line[1] for line in open(f"data/sst/{name}.txt") if line[1] != "2"]
        expected = ["negative" if root in "01" else "positive" for root in roots]
        assert [example["label"] for example in lines(tmp_path / "sst", split)] == expected
    first = lines(tmp_path / "sst", "train")[0]["text"]
    assert first.startswith("The Rock is destined to be the 21st Century 's new `` Conan ''")
    instance = next(iter(TextClassificationReader().read(str(tmp_path / "sst" / "train.jsonl"))))
    assert [t.text for t in instance["tokens"].tokens][:10] == "the rock is destined to be the qq century 's".split()
    assert instance["label"].label == "positive"


def test_imdb_follows_jain_wallace_length_rule_and_splits(tmp_path):
    raw = "fixtures/imdb/aclImdb"
    sizes = make_dataset("imdb", "fixtures/imdb", str(tmp_path / "imdb"))
    # 26 train reviews less one of 400 words and one of 6 (both excluded) -> 24, 20 % held out; 26 test reviews -> 20 %.
    assert imdb_word_count(open(f"{raw}/train/neg/12_1.txt").read()) == 400
    assert imdb_word_count(open(f"{raw}/train/pos/12_10.txt").read()) == 6
    assert sizes == {"train": 19, "validation": 5, "test": 5}
    label_of = {}
    for path in glob.glob(f"{raw}/*/*/*.txt"):
        text = " ".join(open(path).read().replace("<br />", " ").split())
        label_of[text] = {"pos": "positive", "neg": "negative", "unsup": None}[path.split(os.sep)[-2]]
    seen = [example for split in SPLITS for example in lines(tmp_path / "imdb", split)]
    assert all(label_of[example["text"]] == example["label"] for example in seen)
    assert len({example["text"] for example in seen}) == len(seen)
    assert not any("<br" in example["text"] or "boring boring" in example["text"] for example in seen)
    train_texts = {example["text"] for split in ("train", "validation") for example in lines(tmp_path / "imdb", split)}
    assert all(path.endswith(("12_1.txt", "12_10.txt", "0_0.txt")) or
               (" ".join(open(path).read().replace("<br />", " ").split()) in train_texts)
               for path in glob.glob(f"{raw}/train/*/*.txt"))

    make_dataset("imdb", "fixtures/imdb", str(tmp_path / "same"))
    make_dataset("imdb", "fixtures/imdb", str(tmp_path / "other"), seed=3)
    for split in SPLITS:
        assert lines(tmp_path / "same", split) == lines(tmp_path / "imdb", split)
    assert lines(tmp_path / "other", "validation") != lines(tmp_path / "imdb", "validation")


def test_newsgroup_posts_lose_header_quotes_and_signature():
    post = (
        "From: fan@school.edu\nSubject: Re: series\n\nIn article <1@x.edu> b@y.com writes:\n"
        "> They will lose.\nThe Yankees won 4 games.\n| also quoted\nGreat pitching.\n\n--\nFan | fan@school.edu\n"
    )
    assert strip_newsgroup_post(post) == "The Yankees won 4 games.\nGreat pitching."


def test_20news_keeps_baseball_and_hockey_stratified_and_cleaned(tmp_path):
    sizes = make_dataset("20news", "fixtures/20news", str(tmp_path / "20news"))
    # 40 posts, 20 per group: 4 + 4 held out for test, 3 + 3 of the rest for validation; the four
    # posts of at most 6 words (two signature-only, two "Go team!") fall in train with this seed.
    assert sizes == {"train": 22, "validation": 6, "test": 8}
    examples = {split: lines(tmp_path / "20news", split) for split in SPLITS}
    assert sorted(example["label"] for example in examples["test"]) == ["negative"] * 4 + ["positive"] * 4
    assert sorted(example["label"] for example in examples["validation"]) == ["negative"] * 3 + ["positive"] * 3
    texts = [example["text"] for split in SPLITS for example in examples[split]]
    assert all(6 < len(text.split()) < 500 for text in texts)
    assert not any(marker in text for text in texts for marker in ("from:", "writes", "university", "shuttle", "go team"))
    assert all(text == text.lower() and not any(c.isdigit() for c in text) for text in texts)
    assert any(" qq mph " in text for text in texts)
    # Jain & Wallace's cleaning drops punctuation between words ("season. he" -> "season he");
    # a final full stop stays.
    assert not any(" . " in text for text in texts) and all(text.endswith(" .") for text in texts)


def test_agnews_world_vs_business_from_the_description(tmp_path):
    sizes = make_dataset("agnews", "fixtures/agnews", str(tmp_path / "agnews"))
    # train: 11 World + 10 Business rows of 41 records, 15 % held out; test: 4 + 4 of 16 rows.
    assert sizes == {"train": 18, "validation": 3, "test": 8}
    examples = [example for split in SPLITS for example in lines(tmp_path / "agnews", split)]
    assert all(not example["text"].startswith(("World news", "Business news")) for example in examples)
    labels = {example["text"]: example["label"] for example in examples}
    assert labels['Talks "resumed" in the capital,\nofficials said on Friday.'] == "negative"
    assert labels["The central bank left interest rates unchanged."] == "positive"
    assert not any("coach" in text or "chip" in text for text in labels)


def bad_agnews(tmp_path, row):
    raw = tmp_path / "raw"
    shutil.copytree("fixtures/agnews", raw)
    with open(raw / "ag_news_csv" / "train.csv", "a") as table:
        table.write(row)
    return raw


@pytest.mark.parametrize(
    "row, problem",
    [('"5","Title","Text"\n', r"unknown class '5' \(expected 1..4\)"),
     ('"1","Only a title"\n', "expected 3 columns")],
)
def test_agnews_bad_row_names_file_and_line_and_leaves_no_output(tmp_path, row, problem):
    raw = bad_agnews(tmp_path, row)
    with pytest.raises(DatasetFormatError, match=rf"train.csv:43: {problem}"):  # after a 2-line record
        make_dataset("agnews", str(raw), str(tmp_path / "out"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]
    assert make_dataset("agnews", str(raw), str(tmp_path / "out"), skip_invalid=True)["train"] == 18


@pytest.mark.parametrize(
    "text, problem, line",
    [('{"text": "fine", "label": "positive"}\n{"text": "cut sh', "malformed JSON", 2),
     ('{"text": "so so", "label": "neutral"}\n', r"unknown label 'neutral' \(expected one of \['negative', 'positive'\]\)", 1),
     ('{"text": "   ", "label": "negative"}\n', "empty text", 1),
     ('{"label": "negative"}\n', r"missing key\(s\) \['text'\]", 1)],
)
def test_text_classification_bad_lines_name_file_and_line_or_are_skipped(tmp_path, text, problem, line):
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "A 2nd look.", "label": "negative"}\n' + text)
    with pytest.raises(DatasetFormatError, match=rf"train.jsonl:{line + 1}: {problem}"):
        list(TextClassificationReader().read(str(path)))
    lenient = TextClassificationReader(skip_invalid=True)
    instances = list(lenient.read(str(path)))
    assert lenient.skipped == 1
    assert [t.text for t in instances[0]["tokens"].tokens] == ["a", "qq", "look", "."]


def test_cnn_reader_keeps_entities_maps_numbers_and_lists_candidates(tmp_path):
    sizes = make_dataset("cnn", "fixtures/cnn", str(tmp_path / "cnn"), protocol="reduced")  # CNN-sample
    assert sizes == {"train": 12, "validation": 4, "test": 4}
    question_files = sorted(glob.glob("fixtures/cnn/cnn/questions/training/*.question"))
    raw = open(question_files[0]).read().split("\n")
    first = lines(tmp_path / "cnn", "train")[0]
    assert first == {"passage": raw[2], "question": raw[4], "label": raw[6]}

    from_jsonl = list(CnnReader().read(str(tmp_path / "cnn" / "train.jsonl")))
    from_folder = list(CnnReader().read("fixtures/cnn/cnn/questions/training"))
    from_file = list(CnnReader().read(question_files[0]))
    assert len(from_jsonl) == len(from_folder) == 12
    instance = from_jsonl[0]
    for other in (from_folder[0], from_file[0]):
        assert [t.text for t in other["passage"].tokens] == [t.text for t in instance["passage"].tokens]
    passage = [t.text for t in instance["passage"].tokens]
    expected = ["qq" if any(c.isdigit() for c in w) and not w.startswith("@entity") else w for w in raw[2].split()]
    assert passage == expected and "qq" in passage
    entities = [w for w in raw[2].split() if w.startswith("@entity")]
    assert instance["metadata"]["candidates"] == list(dict.fromkeys(entities))
    assert "@placeholder" in [t.text for t in instance["question"].tokens]
    assert instance["label"].label == raw[6] and raw[6] in entities


def test_cnn_answer_that_is_not_an_entity_is_an_error_or_skipped(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree("fixtures/cnn", raw)
    test_files = sorted((raw / "cnn" / "questions" / "test").glob("*.question"))
    content = test_files[1].read_text().split("\n")
    content[6] = "@entity999"
    test_files[1].write_text("\n".join(content))
    with pytest.raises(DatasetFormatError, match=rf"{test_files[1].name}:7: answer '@entity999' is not an entity of the passage"):
        make_dataset("cnn", str(raw), str(tmp_path / "out"), protocol="reduced")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]
    test_files[2].write_text("http://example.com\n\nonly a passage\n")
    lenient = CnnReader(skip_invalid=True)
    assert len(list(lenient.read(str(raw / "cnn" / "questions" / "test")))) == 2 and lenient.skipped == 2
    with pytest.raises(DatasetFormatError, match=rf"{test_files[2].name}:1: expected url, passage, question and answer"):
        list(CnnReader().read(str(test_files[2])))
    sizes = make_dataset("cnn", str(raw), str(tmp_path / "out"), skip_invalid=True, protocol="reduced")
    assert sizes == {"train": 12, "validation": 4, "test": 2}


def test_cnn_truncated_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"passage": "@entity1 met @entity2", "question": "@placeholder met @entity2", "label": "@entity1"}\n'
                    '{"passage": "@entity1 met @entity2", "question": "@placeh')
    with pytest.raises(DatasetFormatError, match="train.jsonl:2: malformed JSON"):
        list(CnnReader().read(str(path)))
    lenient = CnnReader(skip_invalid=True)
    assert [i["label"].label for i in lenient.read(str(path))] == ["@entity1"] and lenient.skipped == 1


def test_cnn_entity_outside_the_label_vocabulary_names_file_and_line(tmp_path):
    path = tmp_path / "test.jsonl"
    path.write_text('{"passage": "@entity1 met @entity2", "question": "@placeholder met @entity2", "label": "@entity1"}\n'
                    '{"passage": "@entity1 met @entity1000", "question": "@placeholder met @entity1", "label": "@entity1"}\n')
    with pytest.raises(DatasetFormatError, match=r"test.jsonl:2: @entity1000 is outside the label vocabulary @entity0..@entity999"):
        list(CnnReader(max_entities=1000).read(str(path)))
    lenient = CnnReader(max_entities=1000, skip_invalid=True)
    assert len(list(lenient.read(str(path)))) == 1 and lenient.skipped == 1
    assert len(list(CnnReader().read(str(path)))) == 2  # unchecked without max_entities
    path.write_text('{"passage": "@entity1 met @entity007", "question": "@placeholder met @entity1", "label": "@entity1"}\n')
    with pytest.raises(DatasetFormatError, match=r"test.jsonl:1: @entity007 is outside the label vocabulary"):
        list(CnnReader(max_entities=1000).read(str(path)))


def test_cnn_config_labels_every_entity_its_reader_accepts(monkeypatch):
    from allennlp.common import Params

    monkeypatch.setenv("METHOD", "vanilla")
    config = Params.from_file("training_configs/cnn_vanilla.jsonnet").as_dict()
    labels = config["vocabulary"]["tokens_to_add"]["labels"]
    assert labels == [f"@entity{i}" for i in range(config["dataset_reader"]["max_entities"])]


def test_a_file_of_invalid_examples_only_is_named_even_when_they_are_skipped(tmp_path):
    from allennlp.data import DatasetReader

    from attention_perturb.errors import EmptyDatasetError

    data = tmp_path / "invalid.jsonl"
    data.write_text('{"text": "", "label": "positive"}\n{"text": "fine", "label": "maybe"}\n')
    reader = DatasetReader.by_name("text_classification")(skip_invalid=True)
    with pytest.raises(EmptyDatasetError, match=f"{data}: nothing to read: all 2 examples in it are invalid and were skipped"):
        list(reader.read(str(data)))


def test_an_empty_file_is_named_by_every_reader(tmp_path):
    from allennlp.data import DatasetReader

    from attention_perturb.errors import EmptyDatasetError

    data = tmp_path / "empty.txt"
    data.write_text("")
    for name in ("sst_trees", "text_classification", "nli", "babi_qa"):
        with pytest.raises(EmptyDatasetError, match=f"{data}: nothing to read: it holds no example"):
            list(DatasetReader.by_name(name)().read(str(data)))


def test_meta_json_records_how_the_splits_were_made_as_indented_json(tmp_path):
    sizes = make_dataset("sst", "fixtures/sst", str(tmp_path / "sst"), seed=5)
    meta = {"dataset": "sst", "raw_dir": "fixtures/sst", "seed": 5, "protocol": "full",
            "protocol_description": "the paper's, from the full release", "sizes": sizes}  # no bAbI task
    assert (tmp_path / "sst" / "meta.json").read_text() == json.dumps(meta, indent=2) + "\n"


def test_an_output_folder_whose_parents_do_not_exist_is_made_with_them(tmp_path):
    output = tmp_path / "new" / "deeper" / "sst"
    sizes = make_dataset("sst", "fixtures/sst", str(output))
    assert sorted(path.name for path in output.iterdir()) == ["meta.json", "test.jsonl", "train.jsonl", "validation.jsonl"]
    assert [len(lines(output, split)) for split in SPLITS] == [sizes[split] for split in SPLITS]


@pytest.mark.parametrize("protocol, message", [
    ("partial", "protocol: 'partial' is not one of full, reduced"),
    ("reduced", "protocol: sst has no reduced protocol (those with one: cnn, multinli, snli)"),
])
def test_a_protocol_that_cannot_be_used_is_named_with_the_choices(tmp_path, protocol, message):
    with pytest.raises(SettingError) as raised:
        make_dataset("sst", "fixtures/sst", str(tmp_path / "out"), protocol=protocol)
    assert str(raised.value) == message and raised.value.setting == "protocol"
    assert list(tmp_path.iterdir()) == []


def test_a_raw_folder_without_the_release_names_what_it_looked_for(tmp_path):
    with pytest.raises(FileNotFoundError) as raised:
        make_dataset("imdb", str(tmp_path), str(tmp_path / "out"))
    assert str(raised.value) == f"expected one folder matching **/train under {tmp_path}, found none"


def test_two_copies_of_a_release_file_are_refused_naming_both(tmp_path):
    for copy in ("a", "b"):
        shutil.copytree("fixtures/agnews", tmp_path / "raw" / copy)
    raw = tmp_path / "raw"
    with pytest.raises(FileNotFoundError) as raised:
        make_dataset("agnews", str(raw), str(tmp_path / "out"))
    assert str(raised.value) == (f"expected one file matching **/train.csv under {raw}, found "
                                 f"{raw}/a/ag_news_csv/train.csv, {raw}/b/ag_news_csv/train.csv")


@pytest.mark.parametrize("dataset, missing", [
    ("snli", "snli_1.0_dev.jsonl"), ("snli", "snli_1.0_test.jsonl"),
    ("multinli", "multinli_1.0_dev_matched.jsonl"), ("multinli", "multinli_1.0_dev_mismatched.jsonl"),
])
def test_the_reduced_protocol_names_a_missing_release_file(tmp_path, dataset, missing):
    raw = tmp_path / "raw"
    shutil.copytree(f"fixtures/{dataset}_partial", raw)
    (raw / f"{dataset}_1.0" / missing).unlink()
    with pytest.raises(FileNotFoundError) as raised:  # no hint to pass the protocol that was passed
        make_dataset(dataset, str(raw), str(tmp_path / "out"), protocol="reduced")
    assert str(raised.value) == f"expected one file matching **/{missing} under {raw}, found none"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["raw"]


def test_the_full_cnn_protocol_takes_folders_of_the_release_sizes_and_refuses_one_short(tmp_path, monkeypatch):
    """The fixture's folders (12 / 4 / 4 questions) taken as the whole release: exactly the
    release's count is whole, one question fewer is a partial release."""
    monkeypatch.setitem(RELEASE_SIZES, "cnn", {"training": 12, "validation": 4, "test": 4})
    assert make_dataset("cnn", "fixtures/cnn", str(tmp_path / "cnn")) == {"train": 12, "validation": 4, "test": 4}
    monkeypatch.setitem(RELEASE_SIZES["cnn"], "validation", 5)
    with pytest.raises(PartialReleaseError) as raised:
        make_dataset("cnn", "fixtures/cnn", str(tmp_path / "short"))
    assert str(raised.value) == ("fixtures/cnn/cnn/questions/validation: 4 questions, the full release has 5; "
                                 "for a partial release pass --protocol reduced (CNN-sample)")
    assert not (tmp_path / "short").exists()


class WatchedExamples(list):
    """A split's examples that call `watch` when the writer starts on them."""

    def __init__(self, examples, watch):
        super().__init__(examples)
        self.watch = watch

    def __iter__(self):
        self.watch()
        return super().__iter__()


def test_splits_are_written_in_a_hidden_folder_beside_the_output_then_renamed(tmp_path):
    """Beside it, so that the rename is on one file system; hidden and named after it, so that a
    half-written dataset is neither taken for one nor in another's way."""
    seen = []
    splits = {"train": WatchedExamples([{"text": "fine", "label": "positive"}],
                                       lambda: seen.extend(path.name for path in tmp_path.iterdir()))}
    write_splits(splits, str(tmp_path / "sst"), {"dataset": "sst"})
    assert len(seen) == 1 and seen[0].startswith(".sst.")
    assert [path.name for path in tmp_path.iterdir()] == ["sst"]
    assert lines(tmp_path / "sst", "train") == [{"text": "fine", "label": "positive"}]


def test_a_failed_write_leaves_nothing_and_raises_its_own_error(tmp_path):
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        write_splits({"train": [{"text": {"not", "a", "string"}}]}, str(tmp_path / "out"), {})
    assert list(tmp_path.iterdir()) == []


def test_a_staging_folder_removed_under_the_writer_does_not_hide_the_error(tmp_path):
    """The clean-up after a failed write is best effort: the error the user sees is the one that
    stopped the write (here the next split's file, its folder gone), not the clean-up's."""
    def remove_staging():
        for path in tmp_path.iterdir():
            shutil.rmtree(path)

    splits = {"train": WatchedExamples([{"text": "a"}], remove_staging), "validation": [{"text": "b"}]}
    with pytest.raises(FileNotFoundError) as raised:
        write_splits(splits, str(tmp_path / "out"), {})
    assert raised.value.filename.endswith("validation.jsonl")
    assert list(tmp_path.iterdir()) == []
