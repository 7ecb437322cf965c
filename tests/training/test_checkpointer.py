"""A training run killed while it saves a checkpoint must still be recoverable."""
import json

import pytest
import torch
from allennlp.commands.train import train_model_from_file
from allennlp.training.callbacks import TrainerCallback
from allennlp.training.checkpointer import Checkpointer

from attention_perturb.training.checkpointer import AtomicCheckpointer

EPOCHS = 3


class UnpicklableState:
    """Pickling it fails part-way through `torch.save`, where a killed process would stop."""

    def __reduce__(self):
        raise RuntimeError("interrupted while saving")


@TrainerCallback.register("interrupts_second_checkpoint")
class InterruptsSecondCheckpoint(TrainerCallback):
    """While armed, lets the first epoch's checkpoint be saved and makes the second fail mid-write."""

    armed = True

    def __init__(self, serialization_dir: str) -> None:
        super().__init__(serialization_dir)
        self.epochs_seen = 0

    def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs) -> None:
        self.epochs_seen += 1

    def state_dict(self):
        return {"state": UnpicklableState()} if self.armed and self.epochs_seen >= 2 else {}


def train(serialization_dir, checkpointer, recover=False):
    overrides = {
        "trainer.num_epochs": EPOCHS,
        "trainer.checkpointer": {"type": checkpointer},
        "trainer.callbacks": [{"type": "interrupts_second_checkpoint"}],
    }
    return train_model_from_file(
        "fixtures/sst_tiny.jsonnet", str(serialization_dir), overrides=json.dumps(overrides), recover=recover
    )


def interrupted_run(tmp_path, checkpointer, monkeypatch):
    run = tmp_path / checkpointer
    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setattr(InterruptsSecondCheckpoint, "armed", True)
    with pytest.raises(RuntimeError, match="interrupted while saving"):
        train(run, checkpointer)
    return run


def test_an_interrupted_save_leaves_the_previous_checkpoint_as_the_latest(tmp_path, monkeypatch):
    run = interrupted_run(tmp_path, "atomic", monkeypatch)
    states = sorted(path.name for path in run.glob("*state_e*"))
    assert states == ["model_state_e1_b0.th", "training_state_e1_b0.th"]
    assert not [path.name for path in run.iterdir() if path.name.startswith(".")]
    assert AtomicCheckpointer(run).load_checkpoint().trainer_state["epochs_completed"] == 1

    # What a kill between the two renames, or during a write, would have left as well.
    (run / "training_state_e2_b0.th").write_bytes(b"orphan of a killed save")
    (run / ".model_state_e2_b0.th.k1ll3d.th").write_bytes(b"half a file")

    monkeypatch.setattr(InterruptsSecondCheckpoint, "armed", False)
    train(run, "atomic", recover=True)
    assert torch.load(run / "training_state_e2_b0.th", weights_only=False)["epochs_completed"] == 2
    assert not [path.name for path in run.iterdir() if path.name.startswith(".")]
    assert json.loads((run / "metrics.json").read_text())["epoch"] == EPOCHS - 1
    assert sorted(path.name for path in run.glob("model_state_e*")) == ["model_state_e2_b0.th", "model_state_e3_b0.th"]


def test_the_default_checkpointer_leaves_a_checkpoint_recover_cannot_load(tmp_path, monkeypatch):
    """Why the configs name the atomic checkpointer: allennlp's own writes in place."""
    run = interrupted_run(tmp_path, "default", monkeypatch)
    assert (run / "training_state_e2_b0.th").exists()
    with pytest.raises(Exception):
        Checkpointer(run).load_checkpoint()


def test_the_task_configs_save_atomically(monkeypatch):
    from allennlp.common import Params

    monkeypatch.setenv("METHOD", "vanilla")
    for config in ("training_configs/sst_attention_iat.jsonnet", "training_configs/babi1_vanilla.jsonnet"):
        assert Params.from_file(config).as_dict()["trainer"]["checkpointer"]["type"] == "atomic", config
