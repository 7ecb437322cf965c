"""The best epoch, the chosen ε and the best trial come from validation metrics alone.

Every fixture here ranks its candidates one way on validation and another way on test, so that a
selection that peeked at the test metrics picks another one; metrics to maximise (`+f1`,
`+accuracy`) and to minimise (`-loss`, `-jsd`) both, where the selection allows either (Table 2
scores every dataset by a metric to maximise)."""
import json

import pytest

from tests.cli import in_process, run_cli


def finished_trial(experiment, run, epsilon, validation_metric, **metrics):
    """A search trial's `run_*/trial/` as `allennlp train` leaves it."""
    trial = experiment / run / "trial"
    trial.mkdir(parents=True)
    config = {"model": {"perturbation": {"type": "attention_interpretable", "epsilon": epsilon}},
              "trainer": {"validation_metric": validation_metric}}
    (trial / "config.json").write_text(json.dumps(config))
    (trial / "metrics.json").write_text(json.dumps(metrics))
    (trial / "model.tar.gz").write_bytes(b"")


# (run, ε, best validation F1, test F1, best validation accuracy, test accuracy): by validation F1
# run_001 (ε 2) is the best and run_002 ties it later; by test F1 run_000 (ε 1) is; by validation
# accuracy run_002 (ε 3) is, by test accuracy run_001.
TRIALS = [("run_000", 1.0, 0.70, 0.95, 0.60, 0.70), ("run_001", 2.0, 0.80, 0.60, 0.65, 0.90),
          ("run_002", 3.0, 0.80, 0.50, 0.75, 0.50)]


@pytest.mark.parametrize("dataset, chosen, run", [
    ("sst", 2.0, "run_001"),  # Table 2 scores SST by F1: the first trial of the highest validation F1
    ("cnn", 3.0, "run_002"),  # and CNN by accuracy
])
def test_table2_takes_the_epsilon_of_the_best_validation_trial(tmp_path, monkeypatch, capsys, dataset, chosen, run):
    experiment = tmp_path / "searches" / f"{dataset}_attention_iat"
    for name, epsilon, validation_f1, test_f1, validation_accuracy, test_accuracy in TRIALS:
        finished_trial(experiment, name, epsilon, "+f1", best_validation_f1=validation_f1, test_f1=test_f1,
                       best_validation_accuracy=validation_accuracy, test_accuracy=test_accuracy)
    plan = run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", dataset, "--methods", "attention_iat",
                   "--search-log-dir", str(tmp_path / "searches"), "-o", str(tmp_path / "out"), "--dry-run")
    assert f"attention_iat seed 1: ε={chosen:g} (best of 3 trials in {experiment}: {run}); train " in plan


def sweep_run(folder, cell, seed, epsilon, **metrics):
    """A sweep run folder as its `allennlp train` leaves it."""
    trial = folder / cell / f"seed_{seed}" / "trial"
    trial.mkdir(parents=True)
    (trial / "config.json").write_text(json.dumps({"model": {"perturbation": {"epsilon": epsilon}},
                                                   "random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}))
    (trial / "metrics.json").write_text(json.dumps({"best_epoch": 1, **metrics}))
    (trial / "model.tar.gz").write_bytes(b"")


def test_sweep_report_chooses_epsilon_by_mean_validation_score(tmp_path):
    """Per ε cell, over seeds 1-2: ε 0.1 has the higher mean validation F1 (.80, .84 -> .82 against
    .75, .79 -> .77) and the lower mean validation loss (.30, .34 -> .32 against .40), ε 1 the higher
    mean test F1 and the lower test loss. F1 is maximised, a loss minimised: ε 0.1 both times."""
    grid = {"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet", "methods": ["attention_at"],
            "seeds": 2, "grid": {"model.perturbation.epsilon": [0.1, 1]}}
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({**grid, "seeds": [1, 2]}))
    for seed, (small_f1, large_f1, small_loss) in {1: (0.80, 0.75, 0.30), 2: (0.84, 0.79, 0.34)}.items():
        sweep_run(out, "attention_at__epsilon=0.1", seed, 0.1, best_validation_f1=small_f1, test_f1=0.60,
                  best_validation_loss=small_loss, test_loss=0.9)
        sweep_run(out, "attention_at__epsilon=1", seed, 1.0, best_validation_f1=large_f1, test_f1=0.90,
                  best_validation_loss=0.40, test_loss=0.1)
    for metric in ("f1", "loss"):
        in_process("sweep", "report", "-o", out, "--metric", metric)
        report = json.loads((out / "report.json").read_text())
        assert report["chosen_epsilon"] == {"attention_at": "attention_at__epsilon=0.1"}, metric
        extreme = {"f1": "highest", "loss": "lowest"}[metric]
        assert (f"ε chosen per method by mean `best_validation_{metric}` over seeds (the {extreme}):\n\n"
                "- attention_at: attention_at__epsilon=0.1\n") in (out / "report.md").read_text()


@pytest.mark.parametrize("metric", ["best_validation_f1", "best_validation_loss"])
def test_sweep_takes_the_first_epsilon_of_a_tie(metric):
    from attention_perturb.experiments.sweep import choose_epsilons, plan_cells

    grid = {"methods": ["attention_at"], "seeds": [1, 2], "grid": {"model.perturbation.epsilon": [0.1, 1, 10]}}
    first, second, third = plan_cells(grid)
    results = {first.name: {1: {metric: 0.25}, 2: {metric: 0.75}}, second.name: {1: {metric: 0.5}, 2: {metric: 0.5}},
               third.name: {1: {metric: 0.5, "test_f1": 0.9}, 2: {metric: 0.5}}}  # the same mean, 0.5
    assert choose_epsilons([first, second, third], results, metric) == {"attention_at": first}
    assert choose_epsilons([third, second], results, metric) == {"attention_at": third}


def write_experiment(experiment, validation_metric, trials):
    for run, epsilon, metrics in trials:
        finished_trial(experiment, run, epsilon, validation_metric, **metrics)


@pytest.mark.parametrize("validation_metric, trials, order", [
    # maximised: run_001 has the highest validation F1, run_000 the highest test F1
    ("+f1", [("run_000", 1.0, {"best_validation_f1": 0.70, "test_f1": 0.99}),
             ("run_001", 2.0, {"best_validation_f1": 0.90, "test_f1": 0.50}),
             ("run_002", 3.0, {"best_validation_f1": 0.80, "test_f1": 0.70})], ["run_001", "run_002", "run_000"]),
    # minimised by name: the lowest validation loss, not the lowest test loss (run_000)
    ("-loss", [("run_000", 1.0, {"best_validation_loss": 0.50, "test_loss": 0.05}),
               ("run_001", 2.0, {"best_validation_loss": 0.30, "test_loss": 0.90}),
               ("run_002", 3.0, {"best_validation_loss": 0.40, "test_loss": 0.50})], ["run_001", "run_002", "run_000"]),
    # minimised by the trainer's sign alone: a divergence is no loss
    ("-jsd", [("run_000", 1.0, {"best_validation_jsd": 0.02, "test_jsd": 0.30}),
              ("run_001", 2.0, {"best_validation_jsd": 0.01, "test_jsd": 0.40}),
              ("run_002", 3.0, {"best_validation_jsd": 0.03, "test_jsd": 0.01})], ["run_001", "run_000", "run_002"]),
])
def test_tune_report_ranks_trials_by_the_trainers_validation_metric(tmp_path, validation_metric, trials, order):
    experiment = tmp_path / "experiment"
    write_experiment(experiment, validation_metric, trials)
    output = in_process("tune", "report", "--log-dir", experiment).stdout
    metric = "best_validation_" + validation_metric[1:]
    table = output[output.index("| trial"):].splitlines()
    assert table[0] == f"| trial | {metric} |"
    assert [row.split("|")[1].strip() for row in table[2:2 + len(order)]] == order
    best = {run: metrics[metric] for run, _, metrics in trials}[order[0]]
    assert f"best perf: {best} ({order[0]})" in output


def test_expected_performance_of_a_minimised_metric_is_the_expected_minimum(tmp_path, monkeypatch, capsys,
                                                                           kept_figures):
    """Dodge et al.'s expected best of n trials, for a loss the expected lowest: over the losses
    .1, .2, .3, .4, n = 1 gives their mean .25; n = 4 (with replacement) Σ v_(i)·P(v_(i) is the
    least of four draws) = Σ v_(i)·((1 − (i−1)/4)⁴ − (1 − i/4)⁴) = (.1·175 + .2·65 + .3·15 + .4·1)/256."""
    records = [{"model": "m", "trial": f"run_{i}", "best_validation_loss": loss, "trainer.validation_metric": "-loss",
                "training_duration": 10.0} for i, loss in enumerate([0.3, 0.1, 0.4, 0.2])]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(record) + "\n" for record in records))
    figures = kept_figures
    run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", str(results), "--output-file",
            str(tmp_path / "expected.png"), "--data-name", "SST")
    curve = figures[0].axes[0].get_lines()[0].get_ydata()
    assert curve[0] == pytest.approx(0.25)
    assert curve[3] == pytest.approx((0.1 * 175 + 0.2 * 65 + 0.3 * 15 + 0.4 * 1) / 256)
    assert list(curve) == sorted(curve, reverse=True)  # more trials, a lower expected best loss
    band = figures[0].axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() >= 0.1 - 1e-12  # the band stops at the best loss seen, as it stops at the best score


def train_three_epochs(run, validation_metric, recover=False):
    from allennlp.commands.train import train_model_from_file

    overrides = {"trainer.num_epochs": 3, "trainer.validation_metric": validation_metric,
                 "trainer.callbacks": [{"type": "interrupts_second_checkpoint"}]}
    train_model_from_file("fixtures/sst_tiny.jsonnet", str(run), overrides=json.dumps(overrides), recover=recover)
    return json.loads((run / "metrics.json").read_text())


def test_a_recovered_run_is_tested_with_its_best_validation_epoch(tmp_path, monkeypatch):
    """`+loss` (the validation loss maximised) makes epoch 0 the best on validation while the later
    epochs' weights have the lower test loss: validation and test disagree. A run killed while
    saving epoch 1's checkpoint and recovered from epoch 0's must still be tested with epoch 0's
    weights (the atomic checkpointer mends allennlp here), as the uninterrupted run is."""
    from tests.training.test_checkpointer import InterruptsSecondCheckpoint  # registers the callback

    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setattr(InterruptsSecondCheckpoint, "armed", False)
    lowest = train_three_epochs(tmp_path / "lowest_loss", "-loss")
    highest = train_three_epochs(tmp_path / "uninterrupted", "+loss")
    losses = [json.loads((tmp_path / "uninterrupted" / f"metrics_epoch_{epoch}.json").read_text())["validation_loss"]
              for epoch in range(3)]
    assert highest["best_epoch"] == losses.index(max(losses)) == 0
    assert highest["best_validation_loss"] == losses[0]
    # Test prefers the last epoch, by far more than the tolerance below.
    assert lowest["best_epoch"] == 2 and lowest["test_loss"] < highest["test_loss"] * (1 - 1e-5)

    monkeypatch.setattr(InterruptsSecondCheckpoint, "armed", True)
    with pytest.raises(RuntimeError, match="interrupted while saving"):
        train_three_epochs(tmp_path / "recovered", "+loss")
    monkeypatch.setattr(InterruptsSecondCheckpoint, "armed", False)
    recovered = train_three_epochs(tmp_path / "recovered", "+loss", recover=True)
    assert recovered["best_epoch"] == 0 and recovered["best_validation_loss"] == losses[0]
    for key in ("test_loss", "test_f1", "test_accuracy", "test_pearson"):  # equal up to float summation order
        assert recovered[key] == pytest.approx(highest[key], rel=1e-6), key
