"""`train_trial`, what each Ray Tune trial of a search or sweep runs, called in this process: Ray
runs it in a worker, where neither coverage nor mutmut sees it (the CLI tests drive it there); and
`search` itself on one trial, in seconds rather than the CLI tests' minutes."""
import json
import re

import pytest

from attention_perturb.tune.search import TrialFailed, train_trial
from tests.conftest import REPO_ROOT

NODE = {"node_id": "0f3a9c", "node_ip": "10.0.0.7", "hostname": "node-7"}


def settings(base_config="fixtures/sst_tiny.jsonnet", overrides=""):
    return {"base_config": base_config, "include_packages": ["attention_perturb"], "overrides": overrides,
            "cwd": str(REPO_ROOT)}


def trial(directory, method="vanilla", config=None, overrides=None):
    return {"run": "trial_3", "environment": {"METHOD": method}, "directory": str(directory), "config": config,
            "overrides": overrides}


def trained_config(directory):
    return json.loads((directory / "trial" / "config.json").read_text())


@pytest.mark.long(seconds=30)
def test_a_trial_trains_its_own_config_from_the_search_folder_and_returns_the_numeric_metrics(tmp_path, monkeypatch):
    """The trial's config and overrides win over the settings' (which name a config that does not
    exist), its environment reaches the training, and the relative config path resolves against the
    settings' folder, not the process's."""
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "trial_3"
    directory.mkdir()
    metrics = train_trial(
        trial(directory, method="attention_iat", config="fixtures/sst_tiny.jsonnet",
              overrides=json.dumps({"trainer.num_epochs": 1})),
        settings(base_config="fixtures/no_such_config.jsonnet", overrides=json.dumps({"trainer.num_epochs": 3})),
        NODE,
    )
    config = trained_config(directory)
    assert config["trainer"]["num_epochs"] == 1
    assert config["model"]["perturbation"]["type"] == "attention_interpretable"  # Attention iAT
    written = json.loads((directory / "trial" / "metrics.json").read_text())
    assert isinstance(written["training_duration"], str)  # what must be left out
    assert metrics == {key: value for key, value in written.items() if key != "training_duration"}
    assert metrics["best_epoch"] == 0 and "best_validation_accuracy" in metrics
    assert (directory / "node.json").read_text() == json.dumps(NODE, indent=2) + "\n"
    assert "best_validation_accuracy" in (directory / "train.log").read_text()


@pytest.mark.long(seconds=40)
def test_an_interrupted_trial_continues_its_run_and_its_log(tmp_path):
    """Without a config or overrides of its own a trial trains the settings'; a run stopped after
    allennlp wrote its config continues with --recover (a fresh `allennlp train` refuses the
    non-empty folder) and its log goes on after the first sitting's."""
    directory = tmp_path / "trial_3"
    directory.mkdir()
    one_epoch = settings(overrides=json.dumps({"trainer.num_epochs": 1}))
    train_trial(trial(directory), one_epoch, NODE)
    assert trained_config(directory)["trainer"]["num_epochs"] == 1
    first_sitting = (directory / "train.log").read_text()
    for left_by_the_end in ("model.tar.gz", "metrics.json"):
        (directory / "trial" / left_by_the_end).unlink()
    metrics = train_trial(trial(directory), one_epoch, NODE)
    assert (directory / "trial" / "model.tar.gz").is_file() and metrics["best_epoch"] == 0
    log = (directory / "train.log").read_text()
    assert log.startswith(first_sitting) and len(log) > len(first_sitting)


@pytest.mark.long(seconds=20)
def test_a_failed_training_names_the_trial_its_exit_code_and_its_log(tmp_path):
    directory = tmp_path / "trial_3"
    directory.mkdir()
    (directory / "train.log").write_text("a log left by a run stopped before allennlp wrote its config\n")
    with pytest.raises(TrialFailed, match=rf"^trial_3: allennlp train exited with 1; see {directory / 'train.log'}$"):
        train_trial(trial(directory, method="no_such_method"), settings(), NODE)
    assert "no_such_method" in (directory / "train.log").read_text()
    assert not (directory / "train.log").read_text().startswith("a log left")  # a fresh run, a fresh log
    assert not (directory / "trial" / "metrics.json").exists()


@pytest.mark.parametrize("missing", ["directory", "cwd"])
def test_a_node_without_the_search_folders_is_named_and_nothing_is_written(tmp_path, missing):
    directory, cwd = tmp_path / "trial_3", tmp_path / "repo"
    directory.mkdir()
    cwd.mkdir()
    absent = {"directory": directory, "cwd": cwd}[missing]
    absent.rmdir()
    with pytest.raises(TrialFailed) as raised:
        train_trial(trial(directory), {**settings(), "cwd": str(cwd)}, NODE)
    assert str(raised.value) == (f"trial_3: {absent} does not exist on node 10.0.0.7 (node-7); on a cluster, the "
                                 "working directory and --log-dir must be on a file system every node mounts at the "
                                 "same path")
    assert not (directory / "node.json").exists() and not (directory / "train.log").exists()


@pytest.mark.long(seconds=40)
def test_a_one_trial_search_in_this_process_reports_its_plan_its_trial_and_its_end(tmp_path, monkeypatch, capsys):
    """`search` itself (the CLI tests run it through a Ctrl-C and a resume, minutes): its plan, the trial's
    progress line with the node it ran on, its end, the trials' settings on a CPU-only Ray, and a rerun
    that finds nothing to train and starts no Ray."""
    from attention_perturb.tune.search import search
    from tests.tune.loopback_cluster import use_ray_environment

    use_ray_environment(monkeypatch)
    lines = []
    arguments = dict(experiment_name="tiny", base_config="fixtures/tune/sst_tiny_search.jsonnet",
                     search_space="fixtures/tune/search_space.json", log_dir=str(tmp_path), num_samples=1,
                     random_seed=4, num_cpus=1, num_gpus=0, include_packages=["attention_perturb"], report=lines.append)
    search(**arguments)
    experiment = tmp_path / "tiny"
    assert lines == [f"{experiment}: 0 of 1 trials finished, running 1",
                     f"all 1 trials finished; next: allennlp tune report --log-dir {experiment}"]
    environment = json.loads((experiment / "run_000" / "environment.json").read_text())
    assert set(environment) == {"EPSILON", "SEED", "CUDA_DEVICE", "NUM_EPOCHS"}
    metrics = json.loads((experiment / "run_000" / "trial" / "metrics.json").read_text())
    node = json.loads((experiment / "run_000" / "node.json").read_text())
    progress = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]  # less Ray Tune's table
    assert len(progress) == 1 and re.fullmatch(
        rf"\[1/1\] run_000 finished after \d+ s on node {re.escape(node['node_ip'])} \({node['node_id'][:8]}\): "
        + " ".join(f"{key}={re.escape(value)}" for key, value in environment.items())
        + re.escape(f" -> best_validation_accuracy={metrics['best_validation_accuracy']:.4f}, "  # no loss
                    f"best_validation_f1={metrics['best_validation_f1']:.4f}, "
                    f"best_validation_macro_f1={metrics['best_validation_macro_f1']:.4f}"), progress[0]), progress
    assert "best_validation_loss" in metrics
    config = trained_config(experiment / "run_000")
    assert config["trainer"]["cuda_device"] == -1 and config["random_seed"] == int(environment["SEED"])

    lines.clear()
    search(**arguments)
    assert lines == [f"{experiment}: 1 of 1 trials finished, running 0",
                     f"all 1 trials finished; next: allennlp tune report --log-dir {experiment}"]
    assert capsys.readouterr().out == ""


@pytest.mark.long(seconds=40)
def test_a_search_whose_trials_fail_names_each_and_its_log_once_all_have_ended(tmp_path, monkeypatch, capsys):
    from attention_perturb.tune.search import search
    from tests.tune.loopback_cluster import use_ray_environment

    use_ray_environment(monkeypatch)
    with pytest.raises(TrialFailed) as raised:
        search(experiment_name="broken", base_config="fixtures/tune/sst_tiny_search.jsonnet",
               search_space="fixtures/tune/search_space.json", log_dir=str(tmp_path), num_samples=2, random_seed=4,
               overrides=json.dumps({"trainer.num_epochs": "two"}), num_cpus=2, num_gpus=0,
               include_packages=["attention_perturb"], report=lambda line: None)
    logs = [tmp_path / "broken" / run / "train.log" for run in ("run_000", "run_001")]
    assert str(raised.value) == f"2 of 2 trials failed:\nrun_000: see {logs[0]}\nrun_001: see {logs[1]}"
    printed = capsys.readouterr().out.splitlines()
    assert sorted(line for line in printed if " FAILED; see " in line) == [f"run_000 FAILED; see {logs[0]}",
                                                                          f"run_001 FAILED; see {logs[1]}"]
    assert all("two" in log.read_text() for log in logs)  # allennlp's own error, in each trial's log
    assert json.loads((tmp_path / "broken" / "run_001" / "environment.json").read_text())["NUM_EPOCHS"] == "1"
    assert (tmp_path / "broken" / "run_000" / "environment.json").read_text().startswith('{\n  "EPSILON": ')


def test_without_gpus_every_trial_trains_on_the_cpu_and_keeps_the_overrides_given():
    from attention_perturb.errors import SettingError
    from attention_perturb.tune.search import trial_overrides

    assert json.loads(trial_overrides("", 0)) == {"trainer.cuda_device": -1}
    assert json.loads(trial_overrides('{"trainer.num_epochs": 2}', 0)) == {"trainer.num_epochs": 2,
                                                                            "trainer.cuda_device": -1}
    assert json.loads(trial_overrides('{"trainer.num_epochs": 2}', 1)) == {"trainer.num_epochs": 2}
    assert trial_overrides("", 2) == ""  # no overrides at all, as allentune passes none
    with pytest.raises(SettingError, match=r"^overrides: not valid JSON \(Expecting"):
        trial_overrides("{trainer", 0)


def test_each_finished_trial_is_one_line_with_its_time_node_settings_and_best_scores(tmp_path, monkeypatch, capsys):
    import types

    from attention_perturb.tune import search

    import contextlib

    from tests.cli import FlushedLines

    clock = iter([100.0, 164.4, 200.0, 210.0])
    monkeypatch.setattr(search.time, "time", lambda: next(clock))
    progress = search.TrialProgress(total=3, already_finished=1)
    (tmp_path / "run_001" / "trial").mkdir(parents=True)
    (tmp_path / "run_001" / "node.json").write_text(json.dumps({**NODE, "node_id": "0f3a9c8b7e6d5a4c"}))
    finished = types.SimpleNamespace(
        config={"trial": {"run": "run_001", "environment": {"EPSILON": "2.5", "SEED": "7"},
                          "directory": str(tmp_path / "run_001")}},
        last_result={"best_validation_f1": 0.8125, "best_validation_loss": 0.25, "best_validation_accuracy": 0.75,
                     "best_epoch": 2, "validation_f1": 0.5})
    progress.on_trial_complete(0, [], finished)
    (tmp_path / "run_001" / "node.json").unlink()  # a trial run before nodes were recorded
    progress.on_trial_complete(0, [], finished)
    failing = types.SimpleNamespace(config=finished.config)
    with contextlib.redirect_stdout(FlushedLines()) as printed:  # each line flushed as printed: a log shows it
        progress.on_trial_complete(0, [], finished)
        assert printed.flushed == printed.getvalue() != ""
        progress.on_trial_error(0, [], failing)
        assert printed.flushed.endswith(f"run_001 FAILED; see {tmp_path / 'run_001' / 'train.log'}\n")
    assert capsys.readouterr().out.splitlines() == [
        "[2/3] run_001 finished after 64 s on node 10.0.0.7 (0f3a9c8b): EPSILON=2.5 SEED=7 -> "
        "best_validation_accuracy=0.7500, best_validation_f1=0.8125",
        "[3/3] run_001 finished after 100 s: EPSILON=2.5 SEED=7 -> best_validation_accuracy=0.7500, "
        "best_validation_f1=0.8125"]


def test_after_each_trial_calls_its_action_once_per_finished_trial():
    from attention_perturb.tune.search import AfterEachTrial

    calls = []
    callback = AfterEachTrial(lambda: calls.append("recorded"))
    for _ in range(2):
        callback.on_trial_complete(0, [], None)
    assert calls == ["recorded", "recorded"]


def test_a_search_by_its_defaults_plans_one_trial_of_seed_0_and_refuses_to_resume_with_another_seed(tmp_path):
    """Every trial already finished, so no Ray starts: the plan file's settings and trials, in full."""
    from attention_perturb.errors import SettingError
    from attention_perturb.tune.search import search
    from attention_perturb.tune.search_space import read_search_space, sample_assignment

    for name in ("metrics.json", "model.tar.gz"):
        (tmp_path / "tiny" / "run_000" / "trial").mkdir(parents=True, exist_ok=True)
        (tmp_path / "tiny" / "run_000" / "trial" / name).write_text("{}")
    lines = []
    search("tiny", "fixtures/tune/sst_tiny_search.jsonnet", "fixtures/tune/search_space.json", str(tmp_path),
           report=lines.append)
    plan_file = tmp_path / "tiny" / "search.json"
    plan = {"settings": {"base_config": str(REPO_ROOT / "fixtures" / "tune" / "sst_tiny_search.jsonnet"),
                         "search_space": json.loads((REPO_ROOT / "fixtures" / "tune" / "search_space.json").read_text()),
                         "overrides": "", "random_seed": 0},
            "trials": [{"run": "run_000", "environment": sample_assignment(
                read_search_space("fixtures/tune/search_space.json"), 0, 0)}]}
    assert plan_file.read_text() == json.dumps(plan, indent=2) + "\n"
    assert lines == [f"{tmp_path / 'tiny'}: 1 of 1 trials finished, running 0",
                     f"all 1 trials finished; next: allennlp tune report --log-dir {tmp_path / 'tiny'}"]
    for setting, value in (("random_seed", 1), ("overrides", '{"trainer.num_epochs": 2}')):
        with pytest.raises(SettingError) as raised:
            search("tiny", "fixtures/tune/sst_tiny_search.jsonnet", "fixtures/tune/search_space.json", str(tmp_path),
                   report=lines.append, **{setting: value})
        assert str(raised.value) == (f"{setting}: {value!r} differs from {plan['settings'][setting]!r} that {plan_file} "
                                     "was started with; rerun with the same value or choose another experiment name")


def test_a_training_that_exits_cleanly_without_finishing_its_run_fails_the_trial(tmp_path, monkeypatch):
    """An `allennlp train` stopped by a signal it handles can exit 0 with no model: not a finished trial."""
    import sys

    from attention_perturb.tune import search

    monkeypatch.setattr(search, "train_command", lambda *arguments: [sys.executable, "-c", "pass"])
    directory = tmp_path / "trial_3"
    directory.mkdir()
    with pytest.raises(TrialFailed) as raised:
        train_trial(trial(directory), settings(), NODE)
    assert str(raised.value) == f"trial_3: allennlp train exited with 0; see {directory / 'train.log'}"
