"""`train_trial`, what each Ray Tune trial of a search or sweep runs, called in this process: Ray
runs it in a worker, where neither coverage nor mutmut sees it (the CLI tests drive it there)."""
import json

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
    assert json.loads((directory / "node.json").read_text()) == NODE
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
    with pytest.raises(TrialFailed, match=rf"^trial_3: allennlp train exited with 1; see {directory / 'train.log'}$"):
        train_trial(trial(directory, method="no_such_method"), settings(), NODE)
    assert "no_such_method" in (directory / "train.log").read_text()
    assert not (directory / "trial" / "metrics.json").exists()


@pytest.mark.parametrize("missing", ["directory", "cwd"])
def test_a_node_without_the_search_folders_is_named_and_nothing_is_written(tmp_path, missing):
    directory, cwd = tmp_path / "trial_3", tmp_path / "repo"
    directory.mkdir()
    cwd.mkdir()
    absent = {"directory": directory, "cwd": cwd}[missing]
    absent.rmdir()
    with pytest.raises(TrialFailed, match=rf"^trial_3: {absent} does not exist on node 10\.0\.0\.7 \(node-7\); on a "
                                          "cluster, the working directory and --log-dir must be on a file system"):
        train_trial(trial(directory), {**settings(), "cwd": str(cwd)}, NODE)
    assert not (directory / "node.json").exists() and not (directory / "train.log").exists()
