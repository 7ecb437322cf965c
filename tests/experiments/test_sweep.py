import json
import os
import subprocess
import sys

import pytest

from attention_perturb.experiments.statistics import mean_ci, paired_difference
from attention_perturb.experiments.sweep import Cell, collect, plan_cells, plan_trials, read_grid, save_grid, shared_runs
from attention_perturb.experiments.sweep_report import epoch_estimates, plot_against_epoch, write_report
from tests.cli import in_process
from tests.tune.loopback_cluster import RAY_ENVIRONMENT

T_975_1 = 12.706204736174705  # Student t, 97.5 % quantile, 1 and 2 degrees of freedom (tables)
T_975_2 = 4.302652729911275

GRID = {
    "dataset": "sst",
    "config": "training_configs/{dataset}_{method}.jsonnet",
    "methods": ["vanilla", "attention_at"],
    "seeds": 2,
    "grid": {"model.perturbation.epsilon": {"values": [0.1, 1], "methods": ["attention_at"]}},
    "variants": {"standardised": {"model.text_field_embedder.token_embedders.tokens.normalize": True}},
    "overrides": {"trainer.num_epochs": 3},
}


def write_grid(tmp_path, grid=GRID):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    return path


def test_grid_expands_to_every_cell_and_seed(tmp_path):
    grid = read_grid(write_grid(tmp_path))
    assert [cell.name for cell in plan_cells(grid)] == [
        "vanilla", "vanilla__standardised",
        "attention_at__epsilon=0.1", "attention_at__epsilon=0.1__standardised",
        "attention_at__epsilon=1", "attention_at__epsilon=1__standardised",
    ]
    trials = plan_trials(tmp_path / "out", grid)
    assert len(trials) == 12
    cells = [cell.name for cell in plan_cells(grid)]  # seed by seed: a partial sweep covers every cell
    assert [t.name for t in trials] == [f"{cell}__seed_{seed}" for seed in (1, 2) for cell in cells]
    trial = next(t for t in trials if t.name == "attention_at__epsilon=0.1__standardised__seed_2")
    assert trial.config == "training_configs/sst_attention_at.jsonnet"
    assert trial.directory == tmp_path / "out" / "attention_at__epsilon=0.1__standardised" / "seed_2"
    assert trial.environment == {"METHOD": "attention_at", "DATASET": "sst"}
    assert json.loads(trial.overrides) == {
        "trainer.num_epochs": 3, "model.perturbation.epsilon": 0.1,
        "model.text_field_embedder.token_embedders.tokens.normalize": True,
        "random_seed": 2, "numpy_seed": 2, "pytorch_seed": 2,
    }
    vanilla = json.loads(next(t for t in trials if t.name == "vanilla__seed_1").overrides)
    assert "model.perturbation.epsilon" not in vanilla and vanilla["random_seed"] == 1


def test_a_variant_can_apply_to_some_methods_only(tmp_path):
    released = {"overrides": {"model.perturbation.type": "attention_loss_decreasing"}, "methods": ["attention_at"]}
    grid = read_grid(write_grid(tmp_path, {**GRID, "variants": {"released": released}}))
    names = [cell.name for cell in plan_cells(grid)]
    assert names == ["vanilla", "attention_at__epsilon=0.1", "attention_at__epsilon=0.1__released",
                     "attention_at__epsilon=1", "attention_at__epsilon=1__released"]
    cell = plan_cells(grid)[2]
    assert cell.overrides == {"model.perturbation.epsilon": 0.1, "model.perturbation.type": "attention_loss_decreasing"}
    with pytest.raises(ValueError, match="variants\\['bad'\\] names methods not in 'methods'"):
        read_grid(write_grid(tmp_path, {**GRID, "variants": {"bad": {"overrides": {}, "methods": ["word_at"]}}}))


def test_a_second_grid_takes_over_only_the_runs_it_would_train_identically(tmp_path):
    first = read_grid(write_grid(tmp_path, {**GRID, "grid": {}, "variants": {}}))  # vanilla, attention_at (ε default)
    runs = {"vanilla": {1: {"test_f1": 0.8}, 2: {"test_f1": 0.9}}, "attention_at": {1: {"test_f1": 0.7}}}
    # The ε-block shape: the same cells beside a variant of other ε for attention_at.
    other_epsilon = {"overrides": {"model.perturbation.epsilon": 0.3}, "methods": ["attention_at"]}
    second = read_grid(write_grid(tmp_path, {**GRID, "grid": {}, "variants": {"eps": other_epsilon}}))
    assert shared_runs(runs, first, second) == runs
    # Other overrides for every cell, another config pattern or a method the second grid lacks: nothing shared.
    assert shared_runs(runs, first, {**second, "overrides": {"trainer.num_epochs": 4}}) == {}
    assert shared_runs(runs, first, {**second, "config": "training_configs/{dataset}_{method}_v2.jsonnet"}) == {}
    assert shared_runs(runs, first, {**second, "methods": ["vanilla"], "variants": {}}) == {"vanilla": runs["vanilla"]}
    # A variant cell of the first grid is not the second grid's default cell of that method.
    runs_of_variant = {"attention_at__eps": {1: {"test_f1": 0.6}}}
    assert shared_runs(runs_of_variant, second, first) == {}
    assert shared_runs(runs_of_variant, second, second) == runs_of_variant


@pytest.mark.parametrize("change, message", [
    ({"epochs": 3}, "unknown keys \\['epochs'\\]"),
    ({"seeds": []}, "'seeds' must be a count or a list of integers"),
    ({"grid": {"model.perturbation.epsilon": {"values": [1], "methods": ["word_at"]}}},
     "grid\\['model.perturbation.epsilon'\\] names methods not in 'methods'"),
    ({"variants": {"default": {}}}, "variant name 'default'"),
])
def test_bad_grid_files_are_named(tmp_path, change, message):
    path = write_grid(tmp_path, {**GRID, **change})
    with pytest.raises(ValueError, match=f"{path}: {message}"):
        read_grid(path)


@pytest.mark.parametrize("change, message", [
    ({"config": None}, "no 'config'"),
    ({"methods": None}, "no 'methods'"),
    ({"seeds": ["1"]}, "'seeds' must be a count or a list of integers, got ['1']"),
    ({"seeds": 0}, "'seeds' must be a count or a list of integers, got 0"),
    ({"grid": {"model.dropout": []}}, "grid['model.dropout'] needs a non-empty list of values"),
    ({"grid": {"model.dropout": {"values": 0.1}}}, "grid['model.dropout'] needs a non-empty list of values"),
    ({"grid": {"model.dropout": {"methods": ["vanilla"]}}}, "grid['model.dropout'] needs a non-empty list of values"),
    ({"overrides": {"random_seed": 1, "pytorch_seed": 2}},
     "overrides sets random_seed, pytorch_seed: each run's seeds are its seed of 'seeds'"),
    ({"grid": {"numpy_seed": [1, 2]}}, "grid sets numpy_seed: each run's seeds are its seed of 'seeds'"),
    ({"variants": {"seeded": {"overrides": {"random_seed": 3}, "methods": ["vanilla"]}}},
     "variants['seeded'] sets random_seed: each run's seeds are its seed of 'seeds'"),
    ({"variants": {"two-words": {}}}, "variant name 'two-words' must be letters, digits and _ and not 'default'"),
])
def test_each_bad_grid_file_is_one_line_naming_the_file_and_key(tmp_path, change, message):
    path = write_grid(tmp_path, {key: value for key, value in {**GRID, **change}.items() if value is not None})
    with pytest.raises(ValueError) as raised:
        read_grid(path)
    assert str(raised.value) == f"{path}: {message}"


def test_a_grid_without_seeds_runs_three_and_a_variant_may_be_named_in_capitals(tmp_path):
    grid = read_grid(write_grid(tmp_path, {key: value for key, value in GRID.items() if key != "seeds"}
                                | {"variants": {"Std_2": {}}}))
    assert grid["seeds"] == [1, 2, 3]
    assert [cell.name for cell in plan_cells(grid)][:2] == ["vanilla", "vanilla__Std_2"]
    assert read_grid(write_grid(tmp_path, {**GRID, "seeds": [5, 3]}))["seeds"] == [5, 3]
    with pytest.raises(ValueError) as raised:
        read_grid(tmp_path)
    assert str(raised.value) == f"grid: {tmp_path} is not a file"


def test_a_folder_refuses_another_grid(tmp_path):
    grid = read_grid(write_grid(tmp_path))
    save_grid(tmp_path / "out", grid)
    save_grid(tmp_path / "out", grid)  # the same grid resumes
    with pytest.raises(ValueError, match="started with another grid"):
        save_grid(tmp_path / "out", {**grid, "seeds": [1, 2, 3]})


def test_a_saved_grid_is_indented_json_and_a_grid_without_a_dataset_runs_with_an_empty_one(tmp_path):
    grid = {"config": "training_configs/sst_{method}.jsonnet", "methods": ["vanilla"], "seeds": [1]}
    save_grid(tmp_path / "out", grid)
    assert (tmp_path / "out" / "sweep.json").read_text() == json.dumps(grid, indent=2) + "\n"
    (trial,) = plan_trials(tmp_path / "out", grid)
    assert trial.environment == {"METHOD": "vanilla", "DATASET": ""}
    assert trial.config == "training_configs/sst_vanilla.jsonnet"


def test_runs_of_seeds_beyond_the_grids_are_shared_too(tmp_path):
    grid = read_grid(write_grid(tmp_path, {**GRID, "grid": {}, "variants": {}}))  # seeds 1, 2
    runs = {"vanilla": {7: {"test_f1": 0.8}}}  # a later sitting's seed 7
    assert shared_runs(runs, grid, {**grid, "seeds": [1]}) == runs


def test_a_run_reads_its_validation_curve_in_epoch_order_and_a_resumed_log_of_any_bytes(tmp_path):
    from attention_perturb.experiments.sweep import read_run

    trial = tmp_path / "seed_1" / "trial"
    trial.mkdir(parents=True)
    (trial / "metrics.json").write_text(json.dumps({"test_f1": 0.5}))
    (trial / "config.json").write_text(json.dumps({"random_seed": 1}))
    for epoch in range(11):  # metrics_epoch_10 sorts after 9, not after 1
        (trial / f"metrics_epoch_{epoch}.json").write_text(json.dumps(
            {"validation_f1": epoch / 10, "training_loss": 1.0, "validation_note": "text", "epoch": epoch}))
    (tmp_path / "seed_1" / "train.log").write_bytes(b"\xff\xfe INFO - Recovering from prior training at x\n")
    run = read_run(trial)
    assert run["validation_curve"] == {"f1": [epoch / 10 for epoch in range(11)]}
    assert run["resumed"] is True and run["test_f1"] == 0.5
    assert run["provenance"]["seeds"] == {"random_seed": 1, "numpy_seed": None, "pytorch_seed": None}
    (tmp_path / "seed_1" / "train.log").unlink()
    assert read_run(trial)["resumed"] is False


def finished_run(directory, f1, pearson, validation_f1, curve):
    """A run folder as a sweep's `allennlp train` leaves it, trained with its folder's seed."""
    serialization_dir = directory / "trial"
    serialization_dir.mkdir(parents=True)
    seed = int(directory.name.split("_")[1])
    (serialization_dir / "config.json").write_text(json.dumps({
        "model": {"encoder": {"type": "unpacked_lstm"}}, "random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}))
    metrics = {"test_f1": f1, "test_pearson": pearson, "test_pearson_skipped": 0.0, "best_validation_f1": validation_f1,
               "best_epoch": len(curve) - 1}
    (serialization_dir / "metrics.json").write_text(json.dumps(metrics))
    seed = int(directory.name.split("_")[1])
    (serialization_dir / "config.json").write_text(json.dumps(
        {"model": {"encoder": {"type": "unpacked_lstm"}}, "random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}))
    (serialization_dir / "model.tar.gz").write_bytes(b"")
    for epoch, value in enumerate(curve):
        (serialization_dir / f"metrics_epoch_{epoch}.json").write_text(json.dumps({"validation_pearson": value}))


def test_report_means_confidence_intervals_and_paired_differences_by_hand(tmp_path):
    grid = read_grid(write_grid(tmp_path, {**GRID, "seeds": 3, "variants": {}}))
    out = tmp_path / "out"
    save_grid(out, grid)
    vanilla = {1: (0.80, 0.6), 2: (0.82, 0.7), 3: (0.84, 0.8)}
    small = {1: (0.81, 0.5), 2: (0.84, 0.55), 3: (0.83, 0.65)}
    large = {1: (0.70, 0.9), 2: (0.72, 0.9), 3: (0.71, 0.9)}
    for cell, runs, validation in (("vanilla", vanilla, 0.8), ("attention_at__epsilon=0.1", small, 0.85),
                                   ("attention_at__epsilon=1", large, 0.75)):
        for seed, (f1, pearson) in runs.items():
            finished_run(out / cell / f"seed_{seed}", f1, pearson, validation + seed / 1000, [0.5, pearson])
    results = collect(out, grid)
    text = write_report(out, grid, results, "f1", "allennlp sweep report -o out")
    # Vanilla F1 80, 82, 84: mean 82, s = 2, CI = t·2/√3.
    assert mean_ci([80.0, 82.0, 84.0]).half_width == pytest.approx(T_975_2 * 2 / 3 ** 0.5)
    assert mean_ci([80.0, None, float("nan"), 84.0]) == (82.0, pytest.approx(T_975_1 * 2), 2)  # s = 2√2, s/√2 = 2
    assert mean_ci([80.0, None]) == (80.0, None, 1)
    assert mean_ci([None]).count == 0 and mean_ci([]).half_width is None
    assert f"| vanilla | 3 | 82.00 ± {T_975_2 * 2 / 3 ** 0.5:.2f} |" in text
    # ε = 0.1 minus vanilla, per seed: F1 +1, +2, -1 (mean 2/3, s = √(7/3)); Pearson -.1, -.15, -.15.
    f1_ci = T_975_2 * (7 / 3) ** 0.5 / 3 ** 0.5
    pearson_mean = -0.4 / 3
    pearson_sd = ((0.1 - 0.4 / 3) ** 2 + 2 * (0.15 - 0.4 / 3) ** 2) ** 0.5 / 2 ** 0.5
    row = next(line for line in text.splitlines() if line.startswith("| attention_at__epsilon=0.1 |"))
    assert f"{2 / 3:.2f} ± {f1_ci:.2f} |" in row
    assert f"{pearson_mean:.3f} ± {T_975_2 * pearson_sd / 3 ** 0.5:.3f} *" in row  # excludes zero
    assert paired_difference({1: 1.0, 2: 2.0}, {2: 0.5, 3: 9.0}).mean == 1.5  # only the seeds both have
    report = json.loads((out / "report.json").read_text())
    assert report["chosen_epsilon"] == {"attention_at": "attention_at__epsilon=0.1"}  # higher validation F1
    assert "- attention_at: attention_at__epsilon=0.1" in text
    assert report["resumed"] == [] and "Continued from a checkpoint" not in text
    # A run that allennlp continued from a checkpoint is named as such.
    (out / "vanilla" / "seed_2" / "train.log").write_text("... - INFO - allennlp.training.util - Recovering from "
                                                          "prior training at out/vanilla/seed_2/trial.\n")
    text = write_report(out, grid, collect(out, grid), "f1", "allennlp sweep report -o out")
    assert json.loads((out / "report.json").read_text())["resumed"] == ["vanilla seed 2"]
    assert "(`--recover`): valid runs of their seed, but not bit-for-bit what an uninterrupted run draws after the " \
           "checkpoint: vanilla seed 2." in text
    assert (out / "pearson_against_epsilon.png").stat().st_size > 0
    assert (out / "pearson_against_epoch.png").stat().st_size > 0
    # Figure 4 plots each run's validation score (never its test score) against ε.
    assert report["validation_against_epsilon"] == {
        "vanilla": [[None, {"1": 0.801, "2": 0.802, "3": 0.803}]],
        "attention_at": [[0.1, {"1": 0.851, "2": 0.852, "3": 0.853}], [1, {"1": 0.751, "2": 0.752, "3": 0.753}]]}
    assert (out / "validation_against_epsilon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_epoch_curve_goes_on_over_the_runs_still_training(tmp_path):
    # Two runs stopped at epochs 2 and 3 (e.g. at the validation ceiling), one ran on to epoch 5.
    curves = [[0.2, 0.4], [0.4, 0.6, 0.8], [0.6, 0.8, 0.6, 0.5, 0.3]]
    estimates = epoch_estimates(curves)
    assert [estimate.count for estimate in estimates] == [3, 3, 2, 1, 1]
    assert [estimate.mean for estimate in estimates] == pytest.approx([0.4, 0.6, 0.7, 0.5, 0.3])
    assert estimates[0].half_width == pytest.approx(T_975_2 * 0.2 / 3 ** 0.5)  # s = 0.2 over 3 runs
    assert estimates[2].half_width == pytest.approx(T_975_1 * 0.02 ** 0.5 / 2 ** 0.5)  # .8, .6: s = √.02
    assert estimates[3].half_width is None and estimates[4].half_width is None
    assert epoch_estimates([]) == []
    results = {"vanilla": {seed: {"validation_curve": {"pearson": curve}} for seed, curve in enumerate(curves, 1)}}
    plot_against_epoch(tmp_path / "epoch.png", [Cell("vanilla", "vanilla", {}, "default", {})], results, "pearson")
    assert (tmp_path / "epoch.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_epoch_figure_marks_each_epoch_up_to_thirty(tmp_path, kept_figures):
    figures = kept_figures
    for epochs in (30, 31):
        results = {"vanilla": {1: {"validation_curve": {"pearson": [0.5] * epochs}}}}
        plot_against_epoch(tmp_path / "epoch.png", [Cell("vanilla", "vanilla", {}, "default", {})], results, "pearson")
    assert [figure.axes[0].get_lines()[0].get_marker() for figure in figures] == ["o", "None"]
    assert figures[0].axes[0].get_ylabel() == "validation pearson (dotted: the runs still training)"
    assert figures[0].axes[0].get_xlabel() == "epoch"


@pytest.mark.parametrize("metric, scale, label", [("best_validation_accuracy", 100, "best validation_accuracy (%)"),
                                                  ("best_validation_f1", 100, "best validation_f1 (%)"),
                                                  ("best_validation_loss", 1, "best validation_loss")])
def test_figure_4_shows_scores_in_percent_and_a_loss_as_it_is(tmp_path, kept_figures, metric, scale, label):
    from attention_perturb.experiments.sweep_report import plot_validation_against_epsilon

    figures = kept_figures
    plot_validation_against_epsilon(tmp_path / "f4.png", {"vanilla": [(None, {1: 0.5, 2: 0.75})],
                                                          "attention_at": [(0.1, {1: 0.25, 2: 0.75}), (1.0, {1: 0.5})]},
                                    metric)
    axis = figures[0].axes[0]
    assert axis.get_ylabel() == label and axis.get_xlabel() == "ε" and axis.get_xscale() == "log"
    assert axis.get_title() == "points: one run each (seeds 1, 2); lines: means"
    baseline_lines = [line.get_ydata()[0] for line in axis.get_lines()[:3]]
    assert baseline_lines == pytest.approx([0.5 * scale, 0.75 * scale, 0.625 * scale])  # dotted runs, dashed mean
    assert [line.get_linestyle() for line in axis.get_lines()[:3]] == [":", ":", "--"]
    assert list(axis.get_lines()[3].get_ydata()) == pytest.approx([0.5 * scale, 0.5 * scale])
    assert axis.collections[0].get_offsets()[:, 1].tolist() == pytest.approx([0.25 * scale, 0.75 * scale, 0.5 * scale])
    assert [text.get_text() for text in axis.get_legend().get_texts()] == [
        "vanilla (mean; dotted: its 2 runs)", "attention_at"]


def test_a_record_carries_finished_runs_into_a_later_sitting(tmp_path):
    grid_file = write_grid(tmp_path, {**GRID, "variants": {}})
    grid = read_grid(grid_file)
    record = tmp_path / "record.json"
    first = tmp_path / "first_sitting"
    save_grid(first, grid)
    for cell, seed, f1 in (("vanilla", 1, 0.80), ("vanilla", 2, 0.84), ("attention_at__epsilon=0.1", 1, 0.70)):
        finished_run(first / cell / f"seed_{seed}", f1, 0.5, 0.8, [0.4, 0.5])
    in_process("sweep", "report", "-o", first, "--record", record)
    recorded = json.loads(record.read_text())
    assert recorded["identity"] == {"grid": {key: value for key, value in grid.items() if key != "seeds"}}
    assert {cell: sorted(seeds) for cell, seeds in recorded["runs"].items()} == {
        "attention_at__epsilon=0.1": ["1"], "vanilla": ["1", "2"]}
    assert recorded["runs"]["vanilla"]["2"]["test_f1"] == 0.84
    assert recorded["runs"]["vanilla"]["2"]["validation_curve"] == {"pearson": [0.4, 0.5]}

    # The next sitting has none of those folders; it trains only what the record lacks ...
    second = tmp_path / "second_sitting"
    plan = in_process("sweep", "run", "--grid", grid_file, "-o", second, "--record", record, "--dry-run").stdout
    assert "3 of 6 runs finished (3 in " in plan and ", 3 to run" in plan
    pending = [line.split(":")[0].strip() for line in plan.splitlines() if line.startswith("  ")]
    assert pending == ["attention_at__epsilon=1__seed_1", "attention_at__epsilon=0.1__seed_2",
                       "attention_at__epsilon=1__seed_2"]
    # ... and its report covers both sittings' runs, naming those it read from the record.
    save_grid(second, grid)
    finished_run(second / "attention_at__epsilon=0.1" / "seed_2", 0.76, 0.6, 0.8, [0.5, 0.6])
    text = in_process("sweep", "report", "-o", second, "--record", record).stdout
    assert f"| vanilla | 2 | 82.00 ± {T_975_1 * 2:.2f} |" in text  # F1 80, 84: s = 2√2, CI = t·s/√2
    assert "| attention_at__epsilon=0.1 | 2 | 73.00 ± " in text
    assert "Read from the --record file (trained in an earlier sitting, whose run folders are gone): vanilla seed 1, " \
           "vanilla seed 2, attention_at__epsilon=0.1 seed 1." in text
    report = json.loads((second / "report.json").read_text())
    assert report["from_record"] == ["vanilla seed 1", "vanilla seed 2", "attention_at__epsilon=0.1 seed 1"]
    assert sorted(json.loads(record.read_text())["runs"]["attention_at__epsilon=0.1"]) == ["1", "2"]
    assert "from_record" not in record.read_text()
    # The record alone, without any run folder, still reports.
    alone = in_process("sweep", "report", "-o", tmp_path / "third", "--record", record).stdout
    assert "| vanilla | 2 | 82.00" in alone
    assert alone.splitlines()[-2:] == [f"written to {tmp_path / 'third' / 'report.md'}",
                                       f"4 finished runs of this grid's seeds in {record}"]
    assert (tmp_path / "third" / "report.md").is_file()
    # A later sitting may add seeds; another grid is refused in one line, before anything trains.
    (tmp_path / "grids").mkdir()
    more_seeds = write_grid(tmp_path / "grids", {**GRID, "variants": {}, "seeds": 3})
    plan = in_process("sweep", "run", "--grid", more_seeds, "-o", tmp_path / "fourth", "--record", record,
                      "--dry-run").stdout
    assert "4 of 9 runs finished (4 in " in plan and ", 5 to run" in plan
    other = write_grid(tmp_path / "grids", {**GRID, "variants": {}, "overrides": {"trainer.num_epochs": 4}})
    refused = in_process("sweep", "run", "--grid", other, "-o", tmp_path / "fifth", "--record", record, "--dry-run",
                         check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        f"error: {record}: this record's runs were made with another grid; use the settings it was made with or "
        f"choose another --record")


def test_sweep_run_records_the_finished_runs_itself_and_prefers_the_folders(tmp_path):
    grid_file = write_grid(tmp_path, {**GRID, "variants": {}, "seeds": 1})
    grid = read_grid(grid_file)
    record, out = tmp_path / "record.json", tmp_path / "out"
    save_grid(out, grid)
    for cell in ("vanilla", "attention_at__epsilon=0.1", "attention_at__epsilon=1"):
        finished_run(out / cell / "seed_1", 0.80, 0.5, 0.8, [0.5])
    in_process("sweep", "report", "-o", out, "--record", record)
    (out / "vanilla" / "seed_1" / "trial" / "metrics.json").write_text(json.dumps(
        {**json.loads((out / "vanilla" / "seed_1" / "trial" / "metrics.json").read_text()), "test_f1": 0.90}))
    # Nothing left to train (no Ray starts), and the record now holds the folder's vanilla run.
    assert "all 3 runs finished" in in_process("sweep", "run", "--grid", grid_file, "-o", out, "--record",
                                              record).stdout
    assert json.loads(record.read_text())["runs"]["vanilla"]["1"]["test_f1"] == 0.90
    (out / "vanilla" / "seed_1" / "trial" / "model.tar.gz").unlink()  # that run is now only in the record
    text = in_process("sweep", "report", "-o", out, "--record", record).stdout
    assert "| vanilla | 1 | 90.00 |" in text and "gone): vanilla seed 1." in text


def test_sweep_run_records_each_trial_as_it_finishes_not_at_the_end(tmp_path, monkeypatch):
    """A sweep killed between two trials (SIGKILL, a sitting's end) runs no clean-up: each trial must
    be in the record before the next one ends. Ray is replaced by trials that finish one by one."""
    from attention_perturb.tune import search

    grid_file = write_grid(tmp_path, {**GRID, "variants": {}, "seeds": 1})
    record, out = tmp_path / "record.json", tmp_path / "out"
    recorded_before = {}

    def recorded_cells():
        return sorted(json.loads(record.read_text())["runs"]) if record.exists() else []

    calls = []

    def run_trials(output_dir, trials, settings, resources, total, after_each_trial):
        calls.append((output_dir, settings, resources, total, [trial.environment for trial in trials]))
        for trial in trials:
            recorded_before[trial.name] = recorded_cells()
            finished_run(trial.directory, 0.80, 0.5, 0.8, [0.5])
            after_each_trial()

    monkeypatch.setattr(search, "start_ray", lambda *args: calls.append(args))
    monkeypatch.setattr(search, "run_trials", run_trials)
    printed = in_process("sweep", "--include-package", "attention_perturb", "run", "--grid", grid_file, "-o", out,
                         "--record", record, "--num-cpus", "3", "--cpus-per-trial", "2", "--ray-address",
                         "10.0.0.1:6379").stdout
    assert recorded_before == {"vanilla__seed_1": [], "attention_at__epsilon=0.1__seed_1": ["vanilla"],
                               "attention_at__epsilon=1__seed_1": ["attention_at__epsilon=0.1", "vanilla"]}
    assert recorded_cells() == ["attention_at__epsilon=0.1", "attention_at__epsilon=1", "vanilla"]
    # The cluster asked for (3 CPUs, had it been a local Ray), no GPU; each trial 2 CPUs and as many torch
    # threads, trained from here.
    assert calls[0] == ("10.0.0.1:6379", 3, 0)
    output_dir, settings, resources, total, environments = calls[1]
    assert output_dir == out.resolve() and resources == {"cpu": 2} and total == 3
    assert settings == {"base_config": None, "include_packages": ["attention_perturb"], "overrides": "", "cwd": os.getcwd()}
    assert environments[0] == {"METHOD": "vanilla", "DATASET": "sst", "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    assert printed.splitlines() == [f"{out.resolve()}: 0 of 3 runs finished, 3 to run",
                                    f"all 3 runs finished; next: allennlp sweep report -o {out.resolve()} --record {record}"]


def test_methods_trains_only_the_named_methods_cells_and_leaves_the_rest_for_later(tmp_path, monkeypatch):
    from attention_perturb.tune import search

    grid_file = write_grid(tmp_path, {**GRID, "variants": {}, "seeds": 2})
    out = tmp_path / "out"
    save_grid(out, read_grid(grid_file))
    finished_run(out / "vanilla" / "seed_1", 0.80, 0.5, 0.8, [0.5])
    plan = in_process("sweep", "run", "--grid", grid_file, "-o", out, "--methods", "vanilla", "--dry-run").stdout
    assert plan.splitlines()[0] == f"{out}: 1 of 6 runs finished, 1 to run, 4 of other methods left for a later run"
    assert [line.split(":")[0].strip() for line in plan.splitlines() if line.startswith("  ")] == ["vanilla__seed_2"]
    # The trials' progress counts the runs of this time's methods alone: 2 (one of them finished).
    totals = []
    monkeypatch.setattr(search, "start_ray", lambda *args: None)
    monkeypatch.setattr(search, "run_trials", lambda output_dir, trials, settings, resources, total, after:
                        totals.append(total) or finished_run(trials[0].directory, 0.82, 0.5, 0.8, [0.5]))
    # Every vanilla run finished: the rest is named as left, not failed.
    done = in_process("sweep", "run", "--grid", grid_file, "-o", out, "--methods", "vanilla", "vanilla")
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == (
        "every run of vanilla finished; 4 runs of other methods are left: rerun without --methods to train them")
    assert totals == [2]
    refused = in_process("sweep", "run", "--grid", grid_file, "-o", out, "--methods", "word_at", "vanilla", "seat",
                         "--dry-run", check=False)
    assert refused.returncode == 1 and refused.stderr.strip().splitlines()[-1] == (
        "error: --methods: seat, word_at not among the grid's methods (vanilla, attention_at)")


def test_a_sweep_record_that_cannot_be_read_is_named_in_one_line(tmp_path):
    table2_record = tmp_path / "table2.json"
    table2_record.write_text(json.dumps({"identity": {"dataset": "sst"}, "runs": {}}))
    refused = in_process("sweep", "report", "-o", tmp_path / "out", "--record", table2_record, check=False)
    assert refused.stderr.strip().splitlines()[-1] == (
        f"error: {table2_record}: not a sweep's record (it has no grid; a reproduce-table2 record?)")
    (tmp_path / "conflict.json").write_text("<<<<<<< HEAD\n")
    refused = in_process("sweep", "run", "--grid", write_grid(tmp_path), "-o", tmp_path / "out", "--record",
                         tmp_path / "conflict.json", "--dry-run", check=False)
    assert refused.stderr.strip().splitlines()[-1].startswith(
        f"error: {tmp_path / 'conflict.json'}: not a record of runs (not valid JSON: ")


@pytest.mark.long(seconds=120)
def test_a_real_sweep_runs_every_cell_and_resumes_without_rerunning(tmp_path):
    grid = {"config": "fixtures/sst_tiny.jsonnet", "methods": ["vanilla", "attention_at"], "seeds": [1],
            "grid": {"model.perturbation.epsilon": {"values": [2.0], "methods": ["attention_at"]}},
            "overrides": {"trainer.num_epochs": 1}}
    path = write_grid(tmp_path, grid)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "allennlp", "sweep", "run", "--grid", str(path), "-o", str(out), "--num-cpus", "2"]
    environment = {**os.environ, **RAY_ENVIRONMENT}
    # A trial that fails: its log cannot be written (a folder is in the way).
    blocked_log = out / "attention_at__epsilon=2" / "seed_1" / "train.log"
    blocked_log.mkdir(parents=True)
    failed = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 1 and "0 of 2 runs finished, 2 to run" in failed.stdout
    assert f"attention_at__epsilon=2__seed_1 FAILED; see {blocked_log}" in failed.stdout
    assert f"1 of 2 trials failed:\nattention_at__epsilon=2__seed_1: see {blocked_log}" in failed.stderr
    runs = {cell: out / cell / "seed_1" / "trial" for cell in ("vanilla", "attention_at__epsilon=2")}
    blocked_log.rmdir()
    # The other trial finished all the same. Make it a run stopped after its last checkpoint (final
    # archive and metrics never written): the rerun continues it from that checkpoint, so its trained
    # epoch is not trained again and it ends with the same model, and trains the failed cell.
    interrupted = runs["vanilla"]
    first_metrics = json.loads((interrupted / "metrics.json").read_text())
    epoch_written_at = (interrupted / "metrics_epoch_0.json").stat().st_mtime_ns
    first_log = (out / "vanilla" / "seed_1" / "train.log").read_text()
    (interrupted / "metrics.json").unlink()
    (interrupted / "model.tar.gz").unlink()
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "0 of 2 runs finished, 2 to run" in result.stdout
    assert (interrupted / "metrics_epoch_0.json").stat().st_mtime_ns == epoch_written_at
    log = (out / "vanilla" / "seed_1" / "train.log").read_text()
    assert log.startswith(first_log) and f"Recovering from prior training at {interrupted}" in log
    resumed_metrics = json.loads((interrupted / "metrics.json").read_text())
    for key in ("test_f1", "test_pearson", "best_validation_f1"):  # equal up to float summation order
        assert resumed_metrics[key] == pytest.approx(first_metrics[key], rel=1e-6), key
    config = json.loads((runs["attention_at__epsilon=2"] / "config.json").read_text())
    assert config["model"]["perturbation"]["epsilon"] == 2.0 and config["random_seed"] == 1
    # Finished runs are not trained again.
    finished_at = {cell: (run / "metrics.json").stat().st_mtime_ns for cell, run in runs.items()}
    rerun = in_process("sweep", "run", "--grid", path, "-o", out, "--num-cpus", "2")  # nothing left: no Ray
    assert "2 of 2 runs finished, 0 to run" in rerun.stdout
    assert {cell: (run / "metrics.json").stat().st_mtime_ns for cell, run in runs.items()} == finished_at
    report = in_process("sweep", "report", "-o", out)
    pearson = json.loads((runs["vanilla"] / "metrics.json").read_text())["test_pearson"]
    row = next(line for line in report.stdout.splitlines() if line.startswith("| vanilla |"))
    assert f"| {pearson:.3f} |" in row
    assert "not bit-for-bit what an uninterrupted run draws after the checkpoint: vanilla seed 1." in report.stdout
