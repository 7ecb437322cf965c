"""A record written in one sitting and read back in a later one, without the run folders or
archives, regenerates its table byte for byte: reproduce-table2's, sweep report's and
robustness-table's. The only difference allowed is the paragraph naming the runs read from the
record. The runs carry every section their tables show (further agreements, per-epoch costs of a
resumed run, provenance, validation curves, NaN measures) and values of full float precision."""
import json
import math
import shutil

import pytest

from tests.cli import in_process, run_cli
from tests.experiments.test_reproduce_table2 import PROCESS, finished_run


def nothing_is_trained(*args):
    raise AssertionError("a run in the record was trained again")


def test_reproduce_table2_from_its_record_is_the_table_from_the_run_folders(tmp_path, monkeypatch, capsys):
    from attention_perturb.experiments import reproduce_table2

    first, record = tmp_path / "first", tmp_path / "record.json"
    scores = {("vanilla", 1): (0.8123456789012345, 0.6012345678901234), ("vanilla", 2): (0.8234567890123456, 0.5),
              ("attention_iat", 1): (0.8345678901234567, 0.9123456789), ("attention_iat", 2): (0.85, 0.8765432109876543)}
    for (method, seed), (f1, pearson) in scores.items():
        run = first / method / f"seed_{seed}"
        finished_run(run, f1, pearson, None if method == "vanilla" else 7.5, kendall=pearson / 3, top5=1 - pearson)
        # Epochs 0-1 in one process, epoch 2 in a second (a resumed run): the cost table reads these.
        for epoch, (clock, rss) in enumerate([("0:01:00.25", 2048.5), ("0:02:10.5", 3072.25), ("0:00:50.125", 1024.0)]):
            (run / f"metrics_epoch_{epoch}.json").write_text(json.dumps(
                {"training_duration": clock, "peak_worker_0_memory_MB": rss + seed, "epoch": epoch}))
        (run / "provenance.json").write_text(json.dumps([PROCESS, {**PROCESS, "epochs_completed_before": 2}]))
    flags = ["reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods", "vanilla", "attention_iat",
             "--epsilon", "attention_iat=7.5", "--record", str(record)]
    monkeypatch.setattr(reproduce_table2, "train", nothing_is_trained)
    run_cli(monkeypatch, capsys, *flags, "-o", str(first))
    from_folders = (first / "table2.md").read_text()
    assert "| Model | kendall | top5 |" in from_folders and "2 runs resumed" not in from_folders  # every section is there
    assert "runs resumed (`--recover`) in a further process" in from_folders

    shutil.rmtree(first)  # a later sitting: the run folders are gone
    run_cli(monkeypatch, capsys, *flags, "-o", str(first))
    read_from = (f"\nRead from {record} (trained in an earlier sitting, whose run folders are gone): vanilla seed 1, "
                 "vanilla seed 2, attention_iat seed 1, attention_iat seed 2.\n")
    assert (first / "table2.md").read_text() == from_folders + read_from


def sweep_run(out, cell, seed, f1, pearson, curve, resumed=False):
    trial = out / cell / f"seed_{seed}" / "trial"
    trial.mkdir(parents=True)
    (trial / "config.json").write_text(json.dumps({"model": {"encoder": {"type": "unpacked_lstm"}},
                                                   "random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}))
    (trial / "provenance.json").write_text(json.dumps([PROCESS]))
    (trial / "metrics.json").write_text(json.dumps({"test_f1": f1, "test_pearson": pearson, "test_kendall": pearson / 7,
                                                    "best_validation_f1": f1 - 0.01, "best_epoch": len(curve) - 1}))
    (trial / "model.tar.gz").write_bytes(b"")
    for epoch, value in enumerate(curve):
        (trial / f"metrics_epoch_{epoch}.json").write_text(json.dumps({"validation_pearson": value}))
    if resumed:
        (trial.parent / "train.log").write_text("INFO - allennlp.training.util - Recovering from prior training at x\n")


def test_sweep_report_from_its_record_is_the_report_from_the_run_folders(tmp_path):
    out, record = tmp_path / "sweep", tmp_path / "record.json"
    grid = {"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet", "methods": ["vanilla", "attention_at"],
            "seeds": [1, 2], "grid": {"model.perturbation.epsilon": {"values": [0.1, 1], "methods": ["attention_at"]}}}
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps(grid))
    sweep_run(out, "vanilla", 1, 0.8123456789012345, 0.6012345678901234, [0.5, 0.6012345678901234])
    sweep_run(out, "vanilla", 2, 0.8234567890123456, 0.55, [0.4, 0.55], resumed=True)
    sweep_run(out, "attention_at__epsilon=0.1", 1, 0.8345678901234567, 0.7123456789, [0.6, 0.7123456789])
    sweep_run(out, "attention_at__epsilon=0.1", 2, 0.85, 0.75, [0.7, 0.8, 0.75])
    sweep_run(out, "attention_at__epsilon=1", 2, 0.7, 0.9, [0.9])  # seed 1 not trained yet
    in_process("sweep", "report", "-o", out, "--record", record)
    report, summary = (out / "report.md").read_text(), json.loads((out / "report.json").read_text())
    assert "not bit-for-bit what an uninterrupted run draws after the checkpoint: vanilla seed 2." in report
    assert "Provenance: commit 0123456" in report and "| kendall |" in report  # every section is there

    shutil.rmtree(out)  # a later sitting: the folder, its grid file included, is gone
    in_process("sweep", "report", "-o", out, "--record", record)
    read_from = ("\nRead from the --record file (trained in an earlier sitting, whose run folders are gone): vanilla seed "
                 "1, vanilla seed 2, attention_at__epsilon=0.1 seed 1, attention_at__epsilon=0.1 seed 2, "
                 "attention_at__epsilon=1 seed 2.\n")
    assert (out / "report.md").read_text().replace(read_from, "", 1) == report
    from_record = json.loads((out / "report.json").read_text())
    assert from_record["from_record"] == ["vanilla seed 1", "vanilla seed 2", "attention_at__epsilon=0.1 seed 1",
                                          "attention_at__epsilon=0.1 seed 2", "attention_at__epsilon=1 seed 2"]
    assert {**from_record, "from_record": []} == summary and summary["from_record"] == []


# Each archive's measures, as robustness_row would give them (hand values, not measured).
ROWS = {
    ("vanilla", 1): {"test_score": 0.8123456789012345, "pearson": 0.6012345678901234, "pgd_jsd": 0.000123456789,
                     "after_attack_accuracy": 0.25, "synonym_attack_success_rate": 0.7, "seed_jsd": 0.0101010101},
    ("vanilla", 2): {"test_score": 0.8234567890123456, "pearson": 0.5, "pgd_jsd": 0.0002, "after_attack_accuracy": 0.5,
                     "synonym_attack_success_rate": 0.6, "seed_jsd": 0.0202020202},
    ("attention_iat", 1): {"test_score": 0.84, "pearson": 0.9123456789, "pgd_jsd": math.nan, "after_attack_accuracy": 0.375,
                           "synonym_attack_success_rate": 0.5, "adversarial_attention_kendall_tau": 0.3333333333333333},
    ("attention_iat", 2): {"test_score": 0.85, "pearson": 0.8765432109876543, "pgd_jsd": 0.0003,
                           "after_attack_accuracy": 0.625, "synonym_attack_success_rate": 0.4},
}


def test_robustness_table_from_its_record_is_the_table_from_the_archives(tmp_path, monkeypatch):
    from attention_perturb.experiments import robustness_table

    def robustness_row(archive_file, data_file, second_archive=None, **options):
        method, seed = archive_file.split("/")[-3], int(archive_file.split("/")[-2].split("_")[1])
        return dict(ROWS[(method, seed)])

    monkeypatch.setattr(robustness_table, "robustness_row", robustness_row)
    archives, record = tmp_path / "methods", tmp_path / "record.json"
    for method, seed in ROWS:
        (archives / method / f"seed_{seed}").mkdir(parents=True, exist_ok=True)
        (archives / method / f"seed_{seed}" / "model.tar.gz").write_bytes(b"")
    command = ["robustness-table", "--data", "fixtures/sst/test.txt", "--record", record, "-o", tmp_path / "table.md",
               "--json-file", tmp_path / "table.json"]
    measured = in_process(*command, "--archives", archives).stdout
    table, measures = (tmp_path / "table.md").read_text(), (tmp_path / "table.json").read_text()
    assert "Difference to vanilla at equal seeds" in table and "KT attention (adv.)" in table

    monkeypatch.setattr(robustness_table, "robustness_row", nothing_is_trained)
    shutil.rmtree(archives)
    archives.mkdir()  # a later sitting without the archives
    assert in_process(*command, "--archives", archives).stdout == measured
    assert (tmp_path / "table.md").read_text() == table
    # The JSON holds the same values (a measured row keeps the order its measures were taken in,
    # a recorded one is sorted by name); NaN is compared as written.
    assert json.loads((tmp_path / "table.json").read_text(), parse_constant=str) == json.loads(measures, parse_constant=str)
    assert json.loads(measures)["vanilla"]["seed_numbers"] == [1, 2]
    assert math.isnan(json.loads(measures)["attention_iat"]["seeds"][0]["pgd_jsd"])
    assert json.loads(measures)["vanilla"]["seeds"][0]["test_score"] == pytest.approx(0.8123456789012345, abs=0)


def test_a_record_file_is_sorted_indented_json_without_the_in_memory_mark(tmp_path):
    from attention_perturb.experiments.record import FROM_RECORD, read_record, write_record

    path = tmp_path / "record.json"
    write_record(path, {"dataset": "sst", "config": "c"},
                 {"word_at": {2: {"f1": 0.5, FROM_RECORD: True}}, "vanilla": {10: {"f1": 0.25}, 9: {"f1": 0.75}}})
    assert path.read_text() == (  # sorted: diffs of a record between sittings show only what changed
        '{\n "identity": {\n  "config": "c",\n  "dataset": "sst"\n },\n "runs": {\n  "vanilla": {\n'
        '   "10": {\n    "f1": 0.25\n   },\n   "9": {\n    "f1": 0.75\n   }\n  },\n'
        '  "word_at": {\n   "2": {\n    "f1": 0.5\n   }\n  }\n }\n}\n')
    assert read_record(path, {"dataset": "sst", "config": "c"}) == {
        "vanilla": {9: {"f1": 0.75, FROM_RECORD: True}, 10: {"f1": 0.25, FROM_RECORD: True}},
        "word_at": {2: {"f1": 0.5, FROM_RECORD: True}}}


@pytest.mark.parametrize("text, problem", [
    ("[1", "not a record of runs (not valid JSON: Expecting"),
    (b"\xff", "not a record of runs (not valid JSON: 'utf-8' codec can't decode"),
    ('{"identity": {}}', "not a record of runs (it needs an 'identity' and a 'runs' object)"),
    ('{"identity": [], "runs": {}}', "not a record of runs (it needs an 'identity' and a 'runs' object)"),
    ('[]', "not a record of runs (it needs an 'identity' and a 'runs' object)"),
    ('{"identity": {"dataset": "imdb", "config": "c", "seeds": 3}, "runs": {}}',
     "this record's runs were made with another dataset, seeds; use the settings it was made with or choose "
     "another --record"),
])
def test_a_record_that_cannot_be_read_or_was_made_otherwise_is_refused_in_one_line(tmp_path, text, problem):
    from attention_perturb.experiments.record import RecordError, read_identity, read_record

    path = tmp_path / "record.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(RecordError) as raised:
        read_record(path, {"dataset": "sst", "config": "c"})
    assert str(raised.value).startswith(f"{path}: {problem}") and "\n" not in str(raised.value)
    if "another" not in problem:
        with pytest.raises(RecordError):
            read_identity(path)
    assert read_identity(tmp_path / "none.json") is None and read_record(tmp_path / "none.json", {}) == {}
