"""`make-dataset --protocol reduced` on fixtures in the layout of ../shared/data's partial releases
(SNLI: a short train file; MultiNLI: the dev sets only; CNN: a few questions per folder)."""
import json
import random

import pytest

from attention_perturb.data.builders import RELEASE_SIZES, make_dataset
from attention_perturb.errors import PartialReleaseError
from tests.cli import in_process, last_line

PARTIAL = {"snli": "fixtures/snli_partial", "multinli": "fixtures/multinli_partial", "cnn": "fixtures/cnn"}


def lines(path):
    return path.read_text().splitlines()


@pytest.mark.parametrize("dataset, sizes", [
    ("snli", {"train": 18, "validation": 2, "test": 10}),  # the 20 dev pairs split 90 / 10, test as it is
    ("multinli", {"train": 18, "validation": 2, "test": 10}),  # the 20 dev_matched pairs; test = the 10 mismatched
    ("cnn", {"train": 12, "validation": 4, "test": 4}),  # the folders as they are
])
def test_reduced_protocol_sizes_and_meta(tmp_path, dataset, sizes):
    assert make_dataset(dataset, PARTIAL[dataset], str(tmp_path / "out"), protocol="reduced") == sizes
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["protocol"] == "reduced" and meta["sizes"] == sizes
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755  # readable by others, like the files in it
    assert meta["protocol_description"].startswith({"snli": "SNLI-reduced", "multinli": "MultiNLI-reduced", "cnn": "CNN-sample"}[dataset])


@pytest.mark.parametrize("dataset, held_out_from, test_from", [
    ("snli", "snli_1.0/snli_1.0_dev.jsonl", "snli_1.0/snli_1.0_test.jsonl"),
    ("multinli", "multinli_1.0/multinli_1.0_dev_matched.jsonl", "multinli_1.0/multinli_1.0_dev_mismatched.jsonl"),
])
def test_reduced_nli_splits_the_dev_set_by_seed_and_keeps_the_test_set(tmp_path, dataset, held_out_from, test_from):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        make_dataset(dataset, PARTIAL[dataset], str(tmp_path / name), seed=seed, protocol="reduced")
    a, b, c = (tmp_path / name for name in "abc")
    for split in ("train", "validation", "test"):
        assert lines(a / f"{split}.jsonl") == lines(b / f"{split}.jsonl")
    assert lines(a / "validation.jsonl") != lines(c / "validation.jsonl")
    source = [
        json.dumps({"passage": p["sentence1"], "question": p["sentence2"], "label": p["gold_label"]})
        for p in map(json.loads, open(f"{PARTIAL[dataset]}/{held_out_from}"))
    ]
    for run in (a, c):  # train and validation partition the dev set, each in its order
        train, validation = lines(run / "train.jsonl"), lines(run / "validation.jsonl")
        assert sorted(train + validation) == sorted(source)
        assert train == [pair for pair in source if pair in train]
    assert len(lines(a / "test.jsonl")) == len(open(f"{PARTIAL[dataset]}/{test_from}").readlines())


@pytest.mark.parametrize("dataset, message", [
    ("snli", r"snli_1.0_train.jsonl: 5 examples, the full release has 549,367; "
             r"for a partial release pass --protocol reduced \(SNLI-reduced\)"),
    ("multinli", r"expected one file matching \*\*/multinli_1.0_train.jsonl under fixtures/multinli_partial, found none; "
                 r"for a partial release pass --protocol reduced \(MultiNLI-reduced\)"),
    ("cnn", r"questions/training: 12 questions, the full release has 380,298; "
            r"for a partial release pass --protocol reduced \(CNN-sample\)"),
])
def test_the_full_protocol_refuses_a_partial_release_naming_the_file_and_the_flag(tmp_path, dataset, message):
    with pytest.raises(PartialReleaseError, match=message):
        make_dataset(dataset, PARTIAL[dataset], str(tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []


def test_the_full_protocol_takes_a_release_of_the_release_sizes(tmp_path, monkeypatch):
    monkeypatch.setitem(RELEASE_SIZES, "snli", {"snli_1.0_train.jsonl": 5, "snli_1.0_dev.jsonl": 20, "snli_1.0_test.jsonl": 10})
    sizes = make_dataset("snli", PARTIAL["snli"], str(tmp_path / "out"))
    assert sizes == {"train": 5, "validation": 20, "test": 10}
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["protocol"] == "full"


def test_a_dataset_without_a_reduced_protocol_refuses_it(tmp_path):
    with pytest.raises(ValueError, match="protocol: sst has no reduced protocol"):
        make_dataset("sst", "data/sst", str(tmp_path / "out"), protocol="reduced")


def test_the_cli_refuses_a_partial_release_in_one_line_and_takes_it_with_the_flag(tmp_path):
    command = ["make-dataset", "snli", PARTIAL["snli"], "-o", tmp_path / "snli"]
    refused = in_process(*command, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert last_line(refused) == (
        "error: fixtures/snli_partial/snli_1.0/snli_1.0_train.jsonl: 5 examples, the full release has 549,367; "
        "for a partial release pass --protocol reduced (SNLI-reduced)"
    )
    assert list(tmp_path.iterdir()) == []
    taken = in_process(*command, "--protocol", "reduced")
    assert f"wrote {tmp_path / 'snli'}: train 18, validation 2, test 10" in taken.stdout
    with_traceback = in_process(*command, "--protocol", "reduced", "--traceback", check=False)
    assert "Traceback" in with_traceback.stderr and with_traceback.stderr.strip().endswith("choose another -o")


def nli_line(number, label):
    return json.dumps({"gold_label": label, "sentence1": f"premise {number} .", "sentence2": f"hypothesis {number} ."})


def processed(number, label):
    return json.dumps({"passage": f"premise {number} .", "question": f"hypothesis {number} .", "label": label})


def test_the_full_multinli_protocol_holds_out_a_fifth_of_train_and_tests_on_both_dev_sets(tmp_path, monkeypatch):
    """A whole release in miniature, in the release's layout: train without the pairs that have
    no gold label, 20 % of it held out for validation by a seeded shuffle of its positions, and
    test = dev_matched then dev_mismatched."""
    labels = ["entailment", "neutral", "contradiction"]
    release = tmp_path / "raw" / "multinli_1.0"
    release.mkdir(parents=True)
    files = {"train": list(range(10)), "dev_matched": [100, 101, 102], "dev_mismatched": [200, 201]}
    for name, numbers in files.items():
        text = [nli_line(n, labels[n % 3]) for n in numbers]
        text.insert(1, nli_line(999, "-"))  # no gold label: dropped, and not counted
        (release / f"multinli_1.0_{name}.jsonl").write_text("\n".join(text) + "\n")
    monkeypatch.setitem(RELEASE_SIZES, "multinli", {f"multinli_1.0_{name}.jsonl": len(n) for name, n in files.items()})

    sizes = make_dataset("multinli", str(tmp_path / "raw"), str(tmp_path / "out"), seed=7)
    assert sizes == {"train": 8, "validation": 2, "test": 5}
    order = list(range(10))
    random.Random(7).shuffle(order)
    held = sorted(order[:2])
    assert lines(tmp_path / "out" / "validation.jsonl") == [processed(n, labels[n % 3]) for n in held]
    assert lines(tmp_path / "out" / "train.jsonl") == [processed(n, labels[n % 3]) for n in range(10) if n not in held]
    assert lines(tmp_path / "out" / "test.jsonl") == [processed(n, labels[n % 3]) for n in (100, 101, 102, 200, 201)]
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["protocol"] == "full" and meta["sizes"] == sizes and meta["seed"] == 7

    # One pair short of the release size (the "-" pair does not count) is a partial release.
    monkeypatch.setitem(RELEASE_SIZES["multinli"], "multinli_1.0_dev_mismatched.jsonl", 3)
    with pytest.raises(PartialReleaseError, match=r"multinli_1.0_dev_mismatched.jsonl: 2 examples, the full release has 3"):
        make_dataset("multinli", str(tmp_path / "raw"), str(tmp_path / "short"))
