import datetime
import json
import os
import subprocess
import sys
import threading
import time

import pytest


from tests.cli import in_process, run_cli


PROCESS = {"commit": "0123456789abcdef", "dirty": False, "torch_threads": 1,
           "versions": {"python": "3.11.7", "torch": "2.14.1", "allennlp": "2.10.1"},
           "machine": {"system": "Linux", "architecture": "x86_64", "cpus": 2, "cuda_device": None}}


def finished_run(directory, f1, pearson, epsilon, duration="0:01:30", rss=1024.0, **further):
    """A run folder as `allennlp train` leaves it after 3 epochs, with chosen test metrics, trained at
    `PROCESS` with its folder's seed."""
    directory.mkdir(parents=True)
    seed = int(directory.name.split("_")[1])
    (directory / "provenance.json").write_text(json.dumps([PROCESS]))
    metrics = {"test_f1": f1, "test_pearson": pearson, "best_validation_f1": f1, "epoch": 2,
               "training_duration": duration, "peak_worker_0_memory_MB": rss,
               **{f"test_{name}": value for name, value in further.items()}}
    (directory / "metrics.json").write_text(json.dumps(metrics))
    perturbation = {"type": "none"} if epsilon is None else {"type": "attention_interpretable", "epsilon": epsilon}
    (directory / "config.json").write_text(json.dumps({
        "model": {"perturbation": perturbation, "encoder": {"type": "unpacked_lstm"}},
        "random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}))
    (directory / "model.tar.gz").write_bytes(b"")


EXPECTED = """SST: test F1 [%] and Pearson correlation (Corr.) between attention and gradient word importance; ours = mean ± std over seeds.

| Model | ε | seeds | F1 [%] (ours) | F1 [%] (paper) | Corr. (ours) | Corr. (paper) |
|---|---|---|---|---|---|---|
| Vanilla | - | 2 | 81.00 ± 1.41 | 79.27 | 0.620 ± 0.028 | 0.652 |
| Attention iAT | 7.5 | 2 | 84.00 ± 1.41 | 82.20 | 0.880 ± 0.028 | 0.876 |

Mean ± 95 % CI (Student t) over seeds, and the paired difference to vanilla at equal seeds (* where its CI excludes zero):

| Model | seeds | F1 [%] | Corr. | Δ F1 [%] | Δ Corr. |
|---|---|---|---|---|---|
| Vanilla | 2 | 81.00 ± 12.71 | 0.620 ± 0.254 | - | - |
| Attention iAT | 2 | 84.00 ± 12.71 | 0.880 ± 0.254 | 3.00 ± 0.00 * | 0.260 ± 0.508 |

Cost per run: seconds per epoch (training and validation; mean ± std over seeds) and the training process's peak RSS (allennlp's `peak_worker_0_memory_MB`; the largest over seeds), both over every process that trained a resumed run:

| Model | s / epoch | peak RSS [GiB] |
|---|---|---|
| Vanilla | 35.0 ± 7.1 | 2.00 |
| Attention iAT | 60.3 ± 0.2 | 3.00 |

Provenance: commit 0123456; torch threads 1; allennlp 2.10.1, python 3.11.7, torch 2.14.1; machine Linux x86_64, 2 CPUs, no GPU; encoder unpacked_lstm; seeds 1, 2.
"""


def test_table2_from_finished_run_folders(tmp_path, monkeypatch, capsys):
    # Hand values: F1 80 and 82 -> mean 81, sample std sqrt(2) = 1.41; Pearson 0.60 and 0.64 -> 0.620 ± 0.028.
    # 95 % CI with t(0.975, 1) = 12.706: F1 ± 12.706·√2/√2 = 12.71, Pearson ± 12.706·0.0283/√2 = 0.254.
    # Paired to vanilla: F1 +3, +3 -> 3.00 ± 0 (excludes zero); Pearson +.30, +.22 -> .260 ± 12.706·.0566/√2 = .508.
    # Cost: 90 s and 120 s over 3 epochs -> 30 and 40 s / epoch -> 35.0 ± 7.1; 180.3 and 181.3 s -> 60.10, 60.43
    # -> 60.27 ± 0.24 (std √((1/3)²/2) = 0.24); peak RSS the largest, 2048 MiB = 2.00 GiB and 3072 MiB = 3.00 GiB.
    finished_run(tmp_path / "vanilla" / "seed_1", 0.80, 0.60, None, duration="0:01:30", rss=2048.0)
    finished_run(tmp_path / "vanilla" / "seed_2", 0.82, 0.64, None, duration="0:02:00.0", rss=1024.0)
    finished_run(tmp_path / "attention_iat" / "seed_1", 0.83, 0.90, 7.5, duration="0:03:00.3", rss=3072.0)
    finished_run(tmp_path / "attention_iat" / "seed_2", 0.85, 0.86, 7.5, duration="0:03:01.3", rss=512.0)
    output = run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods",
                     "attention_iat", "vanilla", "--epsilon", "attention_iat=7.5", "-o", str(tmp_path))
    assert (tmp_path / "table2.md").read_text() == EXPECTED
    assert EXPECTED in output
    assert output.count("; finished ->") == 4
    assert not list(tmp_path.rglob("*.log"))  # nothing was trained again


def four_runs(directory):
    finished_run(directory / "vanilla" / "seed_1", 0.80, 0.60, None, duration="0:01:30", rss=2048.0)
    finished_run(directory / "vanilla" / "seed_2", 0.82, 0.64, None, duration="0:02:00.0", rss=1024.0)
    finished_run(directory / "attention_iat" / "seed_1", 0.83, 0.90, 7.5, duration="0:03:00.3", rss=3072.0)
    finished_run(directory / "attention_iat" / "seed_2", 0.85, 0.86, 7.5, duration="0:03:01.3", rss=512.0)


def record_flags(record, seeds=2, epsilon="7.5"):
    return ["reproduce-table2", "--dataset", "sst", "--seeds", str(seeds), "--methods", "attention_iat", "vanilla",
            "--epsilon", f"attention_iat={epsilon}", "--record", str(record)]


def test_a_record_carries_finished_runs_into_a_sitting_without_their_folders(tmp_path, monkeypatch, capsys):
    first, record = tmp_path / "first_sitting", tmp_path / "record.json"
    four_runs(first)
    run_cli(monkeypatch, capsys, *record_flags(record), "-o", str(first), "--dry-run")
    assert not record.exists()  # a dry run writes nothing
    run_cli(monkeypatch, capsys, *record_flags(record), "-o", str(first))
    assert (first / "table2.md").read_text() == EXPECTED
    kept = json.loads(record.read_text())
    assert kept["identity"] == {"dataset": "sst", "config_pattern": "training_configs/{dataset}_{method}.jsonnet",
                                "overrides": {}}
    assert kept["runs"]["attention_iat"]["2"]["epsilon"] == 7.5 and kept["runs"]["vanilla"]["1"]["epsilon"] is None
    assert kept["runs"]["vanilla"]["2"]["metrics"]["test_f1"] == 0.82
    assert kept["runs"]["vanilla"]["2"]["provenance"] == {
        "processes": [PROCESS], "encoder": "unpacked_lstm", "seeds": {"random_seed": 2, "numpy_seed": 2, "pytorch_seed": 2}}

    second = tmp_path / "second_sitting"  # none of the first sitting's folders
    output = run_cli(monkeypatch, capsys, *record_flags(record), "-o", str(second))
    assert output.count(f"; finished, in {record} ->") == 4
    assert not second.exists() or not list(second.rglob("*.log"))  # nothing was trained again
    assert (second / "table2.md").read_text() == EXPECTED + (
        f"\nRead from {record} (trained in an earlier sitting, whose run folders are gone): attention_iat seed 1, "
        "attention_iat seed 2, vanilla seed 1, vanilla seed 2.\n")
    assert "from_record" not in record.read_text()
    # A third seed is all that is left to train.
    plan = run_cli(monkeypatch, capsys, *record_flags(record, seeds=3), "-o", str(second), "--dry-run")
    assert plan.count(f"; finished, in {record} ->") == 4 and plan.count("; train training_configs/sst_") == 2
    # Runs of another ε or other overrides are refused, in one line naming the record.
    refused = in_process(*record_flags(record, epsilon="3"), "-o", second, "--dry-run", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        f"error: {record}: attention_iat seed 1 was trained with ε=7.5, not 3.0 (--epsilon); choose another --record")
    refused = in_process(*record_flags(record), "-o", second, "--overrides", '{"trainer.num_epochs": 1}', "--dry-run",
                         check=False)
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {record}: this record's runs were made with another overrides; use the settings it was made with "
        f"or choose another --record")


def test_a_folder_run_is_preferred_to_the_recorded_one_and_replaces_it(tmp_path, monkeypatch, capsys):
    record = tmp_path / "record.json"
    four_runs(tmp_path / "earlier")
    run_cli(monkeypatch, capsys, *record_flags(record), "-o", str(tmp_path / "earlier"))
    four_runs(tmp_path / "now")
    (tmp_path / "now" / "vanilla" / "seed_1" / "metrics.json").write_text(json.dumps({
        **json.loads((tmp_path / "earlier" / "vanilla" / "seed_1" / "metrics.json").read_text()), "test_f1": 0.90}))
    run_cli(monkeypatch, capsys, *record_flags(record), "-o", str(tmp_path / "now"))
    table = (tmp_path / "now" / "table2.md").read_text()
    assert "| Vanilla | - | 2 | 86.00 ± 5.66 |" in table  # F1 90 (the folder's) and 82: sample std 8/√2
    assert "Read from" not in table
    assert json.loads(record.read_text())["runs"]["vanilla"]["1"]["metrics"]["test_f1"] == 0.90


def test_the_runs_that_finished_are_recorded_when_a_later_one_fails(tmp_path, monkeypatch, capsys):
    from attention_perturb.experiments import reproduce_table2

    record = tmp_path / "record.json"

    def train(run, *args):  # seed 1 finishes, seed 2 fails
        if run.seed == 2:
            raise RuntimeError(f"{run.method} seed 2: allennlp train exited with 1")
        finished_run(run.directory, 0.80, 0.60, None)

    monkeypatch.setattr(reproduce_table2, "train", train)
    with pytest.raises(RuntimeError, match="vanilla seed 2: allennlp train exited with 1"):
        run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods", "vanilla",
                "--jobs", "1", "--record", str(record), "-o", str(tmp_path / "out"))
    assert list(json.loads(record.read_text())["runs"]["vanilla"]) == ["1"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_run_is_recorded_as_it_finishes_not_at_the_blocks_end(tmp_path, monkeypatch, capsys, jobs):
    """A block killed between two runs (SIGKILL, the end of a sitting) runs no clean-up: each run
    must be in the record before the next one can start. Side by side, seed 2 waits until seed 1
    is in the record (fails after 30 s otherwise), and seed 3 starts only when a run has ended."""
    from attention_perturb.experiments import reproduce_table2

    record = tmp_path / "record.json"
    seen_at_start = {}

    def recorded_seeds():
        return sorted(json.loads(record.read_text())["runs"].get("vanilla", {})) if record.exists() else []

    def train(run, *args):
        seen_at_start[run.seed] = recorded_seeds()
        if jobs == 2 and run.seed == 2:
            deadline = time.monotonic() + 30
            while "1" not in recorded_seeds() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "1" in recorded_seeds(), "seed 1 finished but is not in the record while the block goes on"
        finished_run(run.directory, 0.80, 0.60, None)

    monkeypatch.setattr(reproduce_table2, "train", train)
    run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--seeds", "3", "--methods", "vanilla",
            "--jobs", str(jobs), "--record", str(record), "-o", str(tmp_path / "out"))
    if jobs == 1:
        assert seen_at_start == {1: [], 2: ["1"], 3: ["1", "2"]}
    else:
        assert seen_at_start[1] == [] and len(seen_at_start[3]) >= 1
    assert recorded_seeds() == ["1", "2", "3"]


def test_seconds_over_every_process_adds_up_each_process_clock():
    from attention_perturb.experiments.epochs import seconds_over_every_process

    # Three processes: epochs 0-1 (clock 60, 130 s), epochs 2-3 (50, 120 s), epoch 4 (40 s).
    assert seconds_over_every_process([60.0, 130.0, 50.0, 120.0, 40.0]) == 130.0 + 120.0 + 40.0
    assert seconds_over_every_process([60.0, 130.0]) == 130.0
    assert seconds_over_every_process([]) == 0.0
    assert seconds_over_every_process([60.0, 60.0]) == 60.0  # an equal clock is the same process


def test_epoch_costs_need_both_values_in_every_epochs_file(tmp_path):
    from attention_perturb.experiments.epochs import epoch_costs

    for epoch, clock in enumerate(["0:01:00", "0:02:10"]):  # just the two values: nothing else is needed
        (tmp_path / f"metrics_epoch_{epoch}.json").write_text(json.dumps(
            {"training_duration": clock, "peak_worker_0_memory_MB": 100.0 + epoch}))
    assert epoch_costs(tmp_path, 1) == [{"training_duration": 60.0, "peak_worker_0_memory_MB": 100.0},
                                        {"training_duration": 130.0, "peak_worker_0_memory_MB": 101.0}]
    assert epoch_costs(tmp_path, 0) == [{"training_duration": 60.0, "peak_worker_0_memory_MB": 100.0}]
    assert epoch_costs(tmp_path, None) is None
    assert epoch_costs(tmp_path, 2) is None  # metrics_epoch_2.json missing
    (tmp_path / "metrics_epoch_1.json").write_text(json.dumps({"training_duration": "0:02:10", "epoch": 1}))
    assert epoch_costs(tmp_path, 1) is None


def test_durations_are_read_as_allennlp_writes_them():
    import datetime

    from attention_perturb.experiments.epochs import duration_seconds

    for seconds in (0.0, 90.5, 3 * 3600 + 7.25, 86400 + 61.0, 2 * 86400 + 3600.0):
        assert duration_seconds(str(datetime.timedelta(seconds=seconds))) == pytest.approx(seconds)


def test_cost_of_a_resumed_run_counts_the_epochs_of_every_process(tmp_path, monkeypatch, capsys):
    """allennlp's clock and peak RSS in metrics.json cover the resuming process alone: here epoch 2's
    50 s and 1,024 MiB. The epochs' files give (130 + 50) s / 3 epochs = 60.0 s and 3,072 MiB =
    3.00 GiB (the first process's peak); the record keeps them for a sitting without the folder."""
    run = tmp_path / "first" / "vanilla" / "seed_1"
    finished_run(run, 0.80, 0.60, None, duration="0:00:50", rss=1024.0)
    for epoch, (clock, rss) in enumerate([("0:01:00", 2048.0), ("0:02:10", 3072.0), ("0:00:50", 1024.0)]):
        (run / f"metrics_epoch_{epoch}.json").write_text(json.dumps(
            {"training_duration": clock, "peak_worker_0_memory_MB": rss, "epoch": epoch}))
    record = tmp_path / "record.json"
    flags = ["reproduce-table2", "--dataset", "sst", "--methods", "vanilla", "--record", str(record)]
    run_cli(monkeypatch, capsys, *flags, "-o", str(tmp_path / "first"))
    run_cli(monkeypatch, capsys, *flags, "-o", str(tmp_path / "second"))
    for sitting in ("first", "second"):
        assert "| Vanilla | 60.0 | 3.00 |" in (tmp_path / sitting / "table2.md").read_text()
    # An epoch file missing: metrics.json alone, the last process's 50 s / 3 epochs and 1,024 MiB.
    (run / "metrics_epoch_1.json").unlink()
    run_cli(monkeypatch, capsys, *flags[:-2], "-o", str(tmp_path / "first"))
    assert "| Vanilla | 16.7 | 1.00 |" in (tmp_path / "first" / "table2.md").read_text()


def test_a_record_that_cannot_be_read_is_named_in_one_line(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "conflict.json").write_text("<<<<<<< HEAD\n{}\n")
    (tmp_path / "other.json").write_text('{"runs": {}}')
    for name, message in (("folder", "--record must name a file, not a folder"),
                          ("conflict.json", "not a record of runs (not valid JSON: "),
                          ("other.json", "not a record of runs (it needs an 'identity' and a 'runs' object)")):
        refused = in_process(*record_flags(tmp_path / name), "-o", tmp_path / "out", check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines()[-1].startswith(f"error: {tmp_path / name}: {message}")
    assert not (tmp_path / "out").exists()  # refused before any training


def test_every_further_agreement_gets_its_mean_and_std(tmp_path, monkeypatch, capsys):
    finished_run(tmp_path / "vanilla" / "seed_1", 0.80, 0.60, None, kendall=0.30, top5=0.50, pearson_skipped=2.0)
    finished_run(tmp_path / "vanilla" / "seed_2", 0.82, 0.64, None, kendall=0.50, top5=0.70, pearson_skipped=0.0)
    run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods", "vanilla",
            "-o", str(tmp_path))
    # kendall .3, .5 -> .400 ± .141 (sample std √0.02); top5 .5, .7 -> .600 ± .141; skipped counts are no agreement.
    assert "| Model | kendall | top5 |\n|---|---|---|\n| Vanilla | 0.400 ± 0.141 | 0.600 ± 0.141 |" in (
        tmp_path / "table2.md").read_text()


def test_finished_run_with_another_epsilon_is_refused(tmp_path, monkeypatch, capsys):
    finished_run(tmp_path / "attention_iat" / "seed_1", 0.83, 0.90, 7.5)
    refused = in_process("reproduce-table2", "--dataset", "sst", "--methods", "attention_iat", "--epsilon",
                         "attention_iat=3", "-o", tmp_path, "--dry-run", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'attention_iat' / 'seed_1'} was trained with ε=7.5, not 3.0 (--epsilon); "
        f"remove it or choose another -o")


def test_finished_run_with_other_overrides_is_refused(tmp_path, monkeypatch, capsys):
    finished_run(tmp_path / "vanilla" / "seed_1", 0.80, 0.60, None)
    finished_run(tmp_path / "attention_iat" / "seed_1", 0.83, 0.90, 7.5)
    for run in ("vanilla", "attention_iat"):
        config = tmp_path / run / "seed_1" / "config.json"
        trainer = {"num_epochs": 3, "patience": None, "callbacks": [{"type": "adversarial_statistics"}],
                   "use_amp": False}
        config.write_text(json.dumps({**json.loads(config.read_text()), "trainer": trainer}))
    command = ["reproduce-table2", "--dataset", "sst", "--methods", "vanilla", "-o", str(tmp_path), "--dry-run"]
    for overrides in ('{"trainer.num_epochs": 3}', '{"trainer.num_epochs": 3.0}', '{"trainer.patience": "None"}',
                      '{"trainer.callbacks.0.type": "adversarial_statistics"}', json.dumps({"trainer": trainer}),
                      '{"model.perturbation.type": "none"}'):
        assert "vanilla seed 1: no ε; finished ->" in run_cli(monkeypatch, capsys, *command, "--overrides", overrides)
    # ε in --overrides gives way to the chosen ε (--epsilon here), which is checked on its own.
    assert "attention_iat seed 1: ε=7.5 (--epsilon); finished ->" in run_cli(
        monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--methods", "attention_iat", "--epsilon",
        "attention_iat=7.5", "--overrides", '{"model.perturbation.epsilon": 3}', "-o", str(tmp_path), "--dry-run")
    # A value the run was not trained with, a key its config lacks (past a list's end, below a
    # number), an object that allennlp would put in place of the trained one (it replaces, it does
    # not merge), or true for false, is refused in one line.
    for overrides, trained in (('{"trainer.num_epochs": 5}', "trainer.num_epochs=3"),
                               ('{"trainer.grad_norm": 2}', "trainer.grad_norm=absent"),
                               ('{"trainer.callbacks.1.type": "x"}', "trainer.callbacks.1.type=absent"),
                               ('{"trainer.num_epochs.x": 1}', "trainer.num_epochs.x=absent"),
                               ('{"trainer.use_amp": 0}', "trainer.use_amp=false"),
                               ('{"trainer": {"num_epochs": 3}}', f"trainer={json.dumps(trainer)}")):
        refused = in_process(*command, "--overrides", overrides, check=False)
        assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
            f"error: {tmp_path / 'vanilla' / 'seed_1'} was trained with {trained}, not as --overrides says; "
            f"remove it or choose another -o")


def test_bad_flags_are_named(tmp_path):
    for arguments, message in (
            (("--epsilon", "vanilla=3"), "--epsilon vanilla=3: method must be one of"),
            (("--config-pattern", "nowhere/{dataset}_{method}.jsonnet"),
             "--config-pattern: nowhere/sst_vanilla.jsonnet (for vanilla) does not exist")):
        refused = in_process("reproduce-table2", "--dataset", "sst", *arguments, "-o", str(tmp_path / "runs"), "--dry-run",
                             check=False)
        assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1].startswith(f"error: {message}")
        assert not (tmp_path / "runs").exists()


def test_trains_evaluates_and_writes_the_row_through_the_cli(tmp_path):
    """One real run on the tiny SST fixture, over the folder of a run stopped before allennlp wrote
    its config (trained afresh); the row's numbers are the run's own test metrics."""
    run = tmp_path / "attention_iat" / "seed_1"
    (run / "vocabulary").mkdir(parents=True)
    (run / "vocabulary" / "left_over.txt").write_text("from the stopped run")
    result = in_process("reproduce-table2", "--dataset", "sst", "--seeds", "1", "--methods", "attention_iat",
                        "--epsilon", "attention_iat=2.5", "--config-pattern", "fixtures/sst_tiny.jsonnet", "-o", tmp_path)
    assert "attention_iat seed 1: ε=2.5 (--epsilon); train fixtures/sst_tiny.jsonnet" in result.stdout
    assert not (run / "vocabulary" / "left_over.txt").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert (run / "model.tar.gz").is_file()
    assert config["model"]["perturbation"]["epsilon"] == 2.5 and config["random_seed"] == 1
    row = (f"| Attention iAT | 2.5 | 1 | {100 * metrics['test_f1']:.2f} | 82.20 | "
           f"{metrics['test_pearson']:.3f} | 0.876 |")
    assert row in (tmp_path / "table2.md").read_text()
    assert "[1/1] attention_iat seed 1: test" in result.stdout


@pytest.mark.long
def test_an_interrupted_run_resumes_from_its_last_checkpoint(tmp_path):
    command = ["reproduce-table2", "--dataset", "sst", "--methods", "vanilla", "--config-pattern",
               "fixtures/sst_tiny.jsonnet", "--overrides", '{"trainer.num_epochs": 3}', "-o", tmp_path]
    in_process(*command)
    run = tmp_path / "vanilla" / "seed_1"
    # As if killed during the third epoch: its checkpoint and everything after it are missing.
    for name in ("metrics.json", "model.tar.gz", "metrics_epoch_2.json", "model_state_e3_b0.th",
                 "training_state_e3_b0.th"):
        (run / name).unlink()
    first_epochs = {name: (run / name).stat().st_mtime_ns for name in ("metrics_epoch_0.json", "metrics_epoch_1.json")}

    result = in_process(*command)
    assert "vanilla seed 1: no ε; resume fixtures/sst_tiny.jsonnet" in result.stdout
    assert {name: (run / name).stat().st_mtime_ns for name in first_epochs} == first_epochs  # not trained again
    assert json.loads((run / "metrics_epoch_2.json").read_text())["epoch"] == 2
    assert json.loads((run / "metrics.json").read_text())["epoch"] == 2 and (run / "model.tar.gz").is_file()
    assert "| Vanilla | - | 1 |" in (tmp_path / "table2.md").read_text()


def test_an_interrupted_run_with_another_epsilon_is_refused_before_resuming(tmp_path, monkeypatch, capsys):
    finished_run(tmp_path / "attention_iat" / "seed_1", 0.83, 0.90, 7.5)
    (tmp_path / "attention_iat" / "seed_1" / "metrics.json").unlink()  # interrupted: config.json only
    refused = in_process("reproduce-table2", "--dataset", "sst", "--methods", "attention_iat", "--epsilon",
                         "attention_iat=3", "-o", tmp_path, "--dry-run", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'attention_iat' / 'seed_1'} was trained with ε=7.5, not 3.0 (--epsilon); "
        f"remove it or choose another -o")


@pytest.mark.long
def test_side_by_side_runs_give_the_metrics_of_the_same_runs_one_after_another(tmp_path):
    def block(directory, jobs):
        in_process("reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods", "vanilla", "--config-pattern",
                   "fixtures/sst_tiny.jsonnet", "--overrides", '{"trainer.num_epochs": 1}', "--jobs", jobs,
                   "--threads-per-job", "1", "-o", directory)
        return [directory / "vanilla" / f"seed_{seed}" for seed in (1, 2)]

    def metrics(run):
        values = json.loads((run / "metrics.json").read_text())
        return {key: value for key, value in values.items() if "memory" not in key and "duration" not in key}

    one_after_another = block(tmp_path / "sequential", jobs=1)
    side_by_side = block(tmp_path / "parallel", jobs=2)
    assert [metrics(run) for run in side_by_side] == [metrics(run) for run in one_after_another]
    assert metrics(side_by_side[0]) != metrics(side_by_side[1])  # two seeds, two different runs

    def started(run):  # the first timestamp allennlp logged
        return datetime.datetime.strptime((run / "out.log").read_text()[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()

    # That the side-by-side runs overlap is test_jobs_runs_start_together's: their logged start
    # times depend on how long each process waited for the CPU to import allennlp.
    assert started(one_after_another[1]) > (one_after_another[0] / "model.tar.gz").stat().st_mtime


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_jobs_runs_start_together(jobs):
    """The first run waits for the others to start: it can only finish if `jobs` runs are under way
    at once; and never more than `jobs`."""
    from attention_perturb.experiments.reproduce_table2 import run_side_by_side

    started, lock, under_way, most = threading.Barrier(jobs, timeout=30), threading.Lock(), [0], [0]
    finished = []

    def work(run):
        with lock:
            under_way[0] += 1
            most[0] = max(most[0], under_way[0])
        if run < jobs:
            started.wait()  # raises BrokenBarrierError after 30 s if fewer than `jobs` ran at once
            time.sleep(0.5)  # a run beyond `jobs` would start in the meantime
        with lock:
            under_way[0] -= 1
        finished.append(run)

    run_side_by_side(work, list(range(2 * jobs)), jobs)
    assert sorted(finished) == list(range(2 * jobs)) and most[0] == jobs


def test_bad_job_counts_are_named(tmp_path):
    for flag in ("--jobs", "--threads-per-job"):
        # --dry-run: a check a bug skipped ends at once, not after Table 2's trainings.
        refused = in_process("reproduce-table2", "--dataset", "sst", flag, "0", "-o", str(tmp_path), "--dry-run",
                             check=False)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines()[-1] == f"error: {flag}: must be at least 1, got 0"


def test_a_training_that_fails_names_its_log_and_a_resumed_one_how_to_start_afresh(tmp_path, monkeypatch):
    """`train`'s `allennlp train` process: its command, environment and log (appended to when
    resuming), and the one-line error when it fails."""
    from attention_perturb.experiments import reproduce_table2
    from attention_perturb.experiments.table2 import EpsilonChoice, Run

    calls = []

    def allennlp_train(command, env, stdout, stderr):
        stdout.write("allennlp's output\n")
        calls.append((command, {key: env[key] for key in ("METHOD", "DATASET", "OMP_NUM_THREADS", "MKL_NUM_THREADS")},
                      stderr))
        return subprocess.CompletedProcess(command, 3)

    monkeypatch.setattr(reproduce_table2.subprocess, "run", allennlp_train)
    run = Run("attention_iat", 2, EpsilonChoice(1.0, "config default"), tmp_path / "attention_iat" / "seed_2")
    log = tmp_path / "attention_iat" / "seed_2.log"
    with pytest.raises(RuntimeError) as raised:
        reproduce_table2.train(run, "c.jsonnet", "sst", '{"random_seed": 2}', ["toy_method", "other"], 3)
    assert str(raised.value) == f"attention_iat seed 2: allennlp train exited with 3; see {log}"
    command, environment, stderr = calls[0]
    assert command == [sys.executable, "-m", "allennlp", "train", "c.jsonnet", "-s", str(run.directory), "-o",
                       '{"random_seed": 2}', "--include-package", "toy_method", "--include-package", "other"]
    assert environment == {"METHOD": "attention_iat", "DATASET": "sst", "OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    assert stderr == subprocess.STDOUT and log.read_text() == "allennlp's output\n"
    run.directory.mkdir(parents=True)
    (run.directory / "config.json").write_text("{}")  # interrupted after allennlp wrote its config: resumed
    with pytest.raises(RuntimeError) as raised:
        reproduce_table2.train(run, "c.jsonnet", "sst", "{}", [], 1)
    assert str(raised.value) == (f"attention_iat seed 2: allennlp train exited with 3; see {log}; it was resuming "
                                 f"{run.directory}: remove that folder to train afresh")
    assert calls[1][0][-1] == "--recover" and log.read_text() == "allennlp's output\n" * 2
    monkeypatch.setattr(reproduce_table2.subprocess, "run", lambda command, **_: subprocess.CompletedProcess(command, 0))
    with pytest.raises(RuntimeError, match="exited with 0; see"):  # exited cleanly without finishing the run
        reproduce_table2.train(run, "c.jsonnet", "sst", "{}", [], 1)


def test_each_training_gets_the_cpus_shared_among_the_jobs_unless_told(monkeypatch):
    from attention_perturb.experiments.reproduce_table2 import threads_per_job_of

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert [threads_per_job_of(jobs, None) for jobs in (1, 2, 3, 16)] == [8, 4, 2, 1]
    assert threads_per_job_of(2, 5) == 5
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one each
    assert threads_per_job_of(2, None) == 1 and threads_per_job_of(1, None) == 1


def test_json_values_compare_as_allennlp_reads_them():
    from attention_perturb.experiments.table2 import same_json

    assert same_json(1, 1.0) and same_json({"a": [1, {"b": 2.0}]}, {"a": [1.0, {"b": 2}]})
    assert not same_json(True, 1) and not same_json(1, True) and same_json(False, False)
    assert not same_json([1, 2], [1, 3]) and not same_json([1, 2], [1, 2, 3]) and not same_json([1], 1)
    assert not same_json({"a": 1}, {"a": 2}) and not same_json({"a": 1}, {"a": 1, "b": 1}) and not same_json({"a": 1}, 1)
    assert not same_json({"a": [True]}, {"a": [1]})


def test_methods_outside_the_registry_come_after_it_by_name(tmp_path):
    from attention_perturb.experiments.methods import title
    from attention_perturb.experiments.table2 import in_registry_order

    assert in_registry_order(["zeta", "attention_iat", "alpha", "vanilla"]) == ["vanilla", "attention_iat", "alpha",
                                                                              "zeta"]
    assert title("attention_iat") == "Attention iAT" and title("zeta") == "zeta"
