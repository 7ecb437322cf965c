"""`allennlp tune report` and search's resume checks on hand-made experiment folders (in process, no Ray)."""
import json

import pytest
from attention_perturb.errors import UsageError
from tests.cli import run_cli



def trial(experiment, name, f1, epsilon, environment=True):
    directory = experiment / name / "trial"
    directory.mkdir(parents=True)
    config = {"model": {"perturbation": {"type": "attention_adversarial", "epsilon": epsilon}},
              "trainer": {"validation_metric": "+f1", "num_epochs": 2}}
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "metrics.json").write_text(json.dumps(
        {"best_validation_f1": f1, "best_validation_accuracy": f1 - 0.1, "best_validation_loss": round(f1 - 0.3, 2),
         "training_duration": "0:01:30.500000"}))
    (directory / "model.tar.gz").write_bytes(b"")
    if environment:
        (experiment / name / "environment.json").write_text(json.dumps({"EPSILON": str(epsilon), "NUM_EPOCHS": "2"}))


def test_report_writes_allentune_records_and_a_ranked_table(tmp_path, monkeypatch, capsys):
    experiment = tmp_path / "sst_attention_at"
    trial(experiment, "run_000", 0.70, 3.0)
    trial(experiment, "run_001", 0.80, 12.5)
    (experiment / "run_002" / "trial").mkdir(parents=True)  # interrupted: not reported
    (experiment / "search.json").write_text(json.dumps({"settings": {"search_space": {
        "EPSILON": {"sampling strategy": "uniform", "bounds": [0, 30]}, "NUM_EPOCHS": 2}}}))

    output = run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment))
    records = [json.loads(line) for line in (experiment / "results.jsonl").read_text().splitlines()]
    assert [r["trial"] for r in records] == ["run_000", "run_001"]
    assert records[1]["model.perturbation.epsilon"] == 12.5 and records[1]["EPSILON"] == 12.5
    assert records[1]["trainer.num_epochs"] == 2 and records[1]["NUM_EPOCHS"] == 2
    assert records[0]["training_duration"] == 90.5
    assert {r["model"] for r in records} == {"sst_attention_at"}
    table = output[output.index("| trial"):].splitlines()
    assert table[0] == "| trial | EPSILON | best_validation_f1 | training_duration |"
    assert table[2] == "| run_001 | 12.5 | 0.8 | 90.5 |" and table[3] == "| run_000 | 3 | 0.7 | 90.5 |"
    assert "best perf: 0.8 (run_001)" in output

    # run_001 was resumed: epochs 0-1 in one process (clock 40, 90 s), epoch 2 in the next (35 s).
    run_001 = experiment / "run_001" / "trial"
    (run_001 / "metrics.json").write_text(json.dumps({**json.loads((run_001 / "metrics.json").read_text()),
                                                      "epoch": 2, "training_duration": "0:00:35"}))
    for epoch, clock in enumerate(["0:00:40", "0:01:30", "0:00:35"]):
        (run_001 / f"metrics_epoch_{epoch}.json").write_text(json.dumps(
            {"training_duration": clock, "peak_worker_0_memory_MB": 100.0}))
    run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment))
    records = [json.loads(line) for line in (experiment / "results.jsonl").read_text().splitlines()]
    assert [record["training_duration"] for record in records] == [90.5, 90.0 + 35.0]

    output = run_cli(monkeypatch, capsys, "tune", "report", "--logdir", str(experiment), "--performance_metric",
                     "best_validation_accuracy", "--model", "Attention AT")
    assert "best perf: 0.7" in output
    assert {json.loads(line)["model"] for line in (experiment / "results.jsonl").read_text().splitlines()} == {"Attention AT"}

    # A loss ranks by the smaller value: run_000's 0.4 is the best.
    output = run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment), "--performance-metric",
                     "best_validation_loss")
    table = output[output.index("| trial"):].splitlines()
    assert table[2].startswith("| run_000 | 3 | 0.4 |") and "best perf: 0.4 (run_000)" in output


def test_report_reads_allentune_experiments_and_names_bad_input(tmp_path, monkeypatch, capsys):
    experiment = tmp_path / "allentune_run"
    with pytest.raises(FileNotFoundError, match=f"{experiment}: no finished trials"):
        run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment), "--traceback")
    trial(experiment, "run_0_seed=1", 0.75, 4.0, environment=False)
    output = run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment))
    assert "| run_0_seed=1 | 0.75 | 90.5 |" in output
    with pytest.raises(UsageError, match="^performance_metric: 'best_validation_f2'"):
        run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment), "--performance-metric",
                "best_validation_f2", "--traceback")


def test_search_refuses_to_resume_with_other_settings(tmp_path, monkeypatch, capsys):
    experiment = tmp_path / "sst_attention_iat"
    experiment.mkdir()
    (experiment / "search.json").write_text(json.dumps({"settings": {
        "base_config": str((tmp_path / "other.jsonnet").resolve()), "search_space": {"EPSILON": 1},
        "overrides": "", "random_seed": 0}, "trials": []}))
    with pytest.raises(ValueError, match="^base_config: .* differs from .*other.jsonnet"):
        run_cli(monkeypatch, capsys, "tune", "search", "--experiment-name", "sst_attention_iat", "--search-space",
                "fixtures/tune/search_space.json", "--base-config", "fixtures/tune/sst_tiny_search.jsonnet",
                "--log-dir", str(tmp_path), "--num-gpus", "0", "--traceback")
    with pytest.raises(ValueError, match="^search_strategy: only variant-generation"):
        run_cli(monkeypatch, capsys, "tune", "search", "--experiment-name", "x", "--search-space",
                "fixtures/tune/search_space.json", "--base-config", "fixtures/tune/sst_tiny_search.jsonnet",
                "--log-dir", str(tmp_path), "--search-strategy", "hyperopt", "--traceback")
    assert not (tmp_path / "x").exists()


def test_the_trainers_minimised_metric_ranks_by_the_lowest_value():
    import pandas as pd

    from attention_perturb.tune.report import best_trial, default_performance_metric, lower_is_better

    frame = pd.DataFrame({"trainer.validation_metric": ["-perplexity", "-perplexity", None],
                          "best_validation_perplexity": [3.0, 2.0, 4.0], "best_validation_loss": [0.1, 0.3, 0.2],
                          "best_validation_f1": [0.2, 0.1, 0.3]})
    assert lower_is_better(frame, "best_validation_perplexity") and lower_is_better(frame, "perplexity")
    assert lower_is_better(frame, "best_validation_loss") and not lower_is_better(frame, "best_validation_f1")
    assert not lower_is_better(frame.drop(columns="trainer.validation_metric"), "best_validation_perplexity")
    assert not lower_is_better(pd.DataFrame({"trainer.validation_metric": ["+perplexity"]}), "best_validation_perplexity")
    assert best_trial(frame, "best_validation_perplexity")["best_validation_f1"] == 0.1
    assert best_trial(frame, "best_validation_f1")["best_validation_perplexity"] == 4.0
    assert default_performance_metric(frame) == "best_validation_perplexity"
    from attention_perturb.errors import SettingError

    with pytest.raises(SettingError) as raised:
        default_performance_metric(frame.drop(columns="trainer.validation_metric"))
    assert str(raised.value) == "performance_metric: needed, as the trials' trainer.validation_metric is []"


def test_a_search_takes_the_epsilon_of_its_first_best_validation_trial(tmp_path):
    from attention_perturb.errors import SettingError
    from attention_perturb.experiments.table2 import EpsilonChoice
    from attention_perturb.tune.best_trial import best_trial_epsilon, choose_epsilons

    searches = tmp_path / "searches"
    for name, f1, epsilon in (("run_000", 0.70, 3.0), ("run_001", 0.80, 12.5), ("run_002", 0.80, 20.0)):
        trial(searches / "sst_attention_at", name, f1, epsilon)
    (searches / "sst_vanilla").mkdir()  # a search of vanilla is never read: vanilla has no ε
    experiment = searches / "sst_attention_at"
    assert best_trial_epsilon(experiment, "f1") == EpsilonChoice(12.5, f"best of 3 trials in {experiment}: run_001")
    assert choose_epsilons("sst", ["vanilla", "attention_at", "attention_iat", "word_at"], {"word_at": 3.0}, searches) == {
        "vanilla": EpsilonChoice(None, "no perturbation"),
        "attention_at": EpsilonChoice(12.5, f"best of 3 trials in {experiment}: run_001"),
        "attention_iat": EpsilonChoice(None, "config default"), "word_at": EpsilonChoice(3.0, "--epsilon")}
    assert choose_epsilons("sst", ["attention_at"], {}, None) == {"attention_at": EpsilonChoice(None, "config default")}
    with pytest.raises(SettingError) as raised:
        best_trial_epsilon(experiment, "accuracy_top3")
    assert str(raised.value) == f"search_log_dir: {experiment / 'run_000' / 'trial' / 'metrics.json'} has no " \
                                "best_validation_accuracy_top3"
    (searches / "empty").mkdir()
    with pytest.raises(SettingError) as raised:
        best_trial_epsilon(searches / "empty", "f1")
    assert str(raised.value) == f"search_log_dir: {searches / 'empty'} has no finished trials"
    config = experiment / "run_001" / "trial" / "config.json"
    config.write_text(json.dumps({"model": {"perturbation": {"type": "none"}}}))
    with pytest.raises(SettingError) as raised:
        best_trial_epsilon(experiment, "f1")
    assert str(raised.value) == f"search_log_dir: {config}: model.perturbation has no epsilon"


def test_report_by_its_defaults_names_its_file_count_table_and_best_and_keeps_text_settings(tmp_path):
    from attention_perturb.tune.report import report

    experiment = tmp_path / "sst_attention_at"
    trial(experiment, "run_000", 0.70, 3.0)
    (experiment / "run_000" / "environment.json").write_text(json.dumps({"ENCODER": "lstm", "EPSILON": "3.0"}))
    lines = report(str(experiment), throttle=200)
    assert lines[0] == f"results written to {experiment / 'results.jsonl'}" and lines[1] == "total experiments: 1"
    assert lines[2].splitlines()[:2] == ["| trial | best_validation_f1 | training_duration |", "|---|---|---|"]
    assert lines[3] == "best perf: 0.7 (run_000)"
    (record,) = [json.loads(line) for line in (experiment / "results.jsonl").read_text().splitlines()]
    assert record["ENCODER"] == "lstm" and record["EPSILON"] == 3.0  # text stays text, numbers are numbers
    assert record["dataset_reader.sample"] == 200 and record["model"] == "sst_attention_at"
    assert "dataset_reader.sample" not in json.loads(report(str(experiment))[0] and
                                                     (experiment / "results.jsonl").read_text())
