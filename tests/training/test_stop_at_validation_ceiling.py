import json

import pytest
import torch

from tests.cli import in_process

CONFIG = "fixtures/babi_tiny.jsonnet"


def train(run, ceiling=None, epochs=4):
    callbacks = [] if ceiling is None else [{"type": "stop_at_validation_ceiling", "ceiling": ceiling}]
    overrides = {"trainer.num_epochs": epochs, "trainer.callbacks": callbacks, "data_loader.batch_sampler.shuffle": False}
    in_process("train", CONFIG, "-s", run, "-o", json.dumps(overrides), env={"METHOD": "vanilla"})
    return json.loads((run / "metrics.json").read_text())


def test_stopping_at_the_ceiling_keeps_the_full_runs_model(tmp_path):
    full = train(tmp_path / "full")
    assert full["epoch"] == 3 and full["best_epoch"] < 3  # so that stopping at its best is stopping early
    # The ceiling is the full run's best validation accuracy: the run stops after the epoch that first
    # reaches it, and keeps the same model and metrics as the full run.
    stopped = train(tmp_path / "stopped", ceiling=full["best_validation_accuracy"])
    assert stopped["epoch"] == full["best_epoch"] == stopped["best_epoch"]
    assert not (tmp_path / "stopped" / f"metrics_epoch_{full['best_epoch'] + 1}.json").exists()
    for key, value in full.items():
        if key.startswith("best_validation_"):
            assert stopped[key] == pytest.approx(value, abs=1e-9), key
    full_weights = torch.load(tmp_path / "full" / "best.th")
    for name, value in torch.load(tmp_path / "stopped" / "best.th").items():
        torch.testing.assert_close(value, full_weights[name])


def test_an_unreached_ceiling_changes_nothing_and_a_minimised_metric_is_refused(tmp_path):
    assert train(tmp_path / "unreached", ceiling=2.0, epochs=2)["epoch"] == 1
    overrides = {"trainer.num_epochs": 1, "trainer.validation_metric": "-loss",
                 "trainer.callbacks": [{"type": "stop_at_validation_ceiling"}]}
    result = in_process("train", CONFIG, "-s", tmp_path / "loss", "-o", json.dumps(overrides),
                        env={"METHOD": "vanilla"}, check=False)
    assert result.returncode != 0
    assert "stop_at_validation_ceiling needs one validation_metric to maximise" in result.stderr + result.stdout
