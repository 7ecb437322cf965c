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


def test_a_checkpoint_of_the_best_epoch_so_far_names_its_weights_as_the_best(tmp_path, monkeypatch):
    """allennlp saves an epoch's checkpoint before copying the epoch's weights to best.th, so the
    first epoch's training state names no best model; recovering from it, the checkpointer writes
    that checkpoint's weights to best.th and names it (a kill may have left best.th missing or older)."""
    run = interrupted_run(tmp_path, "atomic", monkeypatch)  # the first epoch's checkpoint: the best so far
    training_state = torch.load(run / "training_state_e1_b0.th", weights_only=False)
    assert training_state["metric_tracker"]["is_best_so_far"] and training_state["best_model_filename"] is None
    (run / "best.th").unlink()
    checkpoint = AtomicCheckpointer(run).load_checkpoint()
    assert checkpoint.trainer_state["best_model_filename"] == str(run / "best.th")
    best, saved = torch.load(run / "best.th"), torch.load(run / "model_state_e1_b0.th")
    assert best.keys() == saved.keys() and all(torch.equal(best[name], saved[name]) for name in best)

    # A checkpoint saved mid-epoch, or with a moving average: best.th is allennlp's and stays as it is.
    for change in ({"batches_in_epoch_completed": 3}, {"moving_average": {}}):
        torch.save({**training_state, **change}, run / "training_state_e1_b0.th")
        (run / "best.th").write_bytes(b"allennlp's best.th")
        checkpoint = AtomicCheckpointer(run).load_checkpoint()
        assert checkpoint.trainer_state["best_model_filename"] is None, change
        assert (run / "best.th").read_bytes() == b"allennlp's best.th", change

    # A sharded model's checkpoint, one file per rank: no rank's shard is the best model.
    torch.save(training_state, run / "training_state_e1_b0_w0.th")
    (run / "training_state_e1_b0.th").unlink()
    (run / "model_state_e1_b0.th").rename(run / "model_state_e1_b0_w0.th")
    checkpointer = AtomicCheckpointer(run)
    checkpointer.state_is_sharded = True  # as allennlp's trainer sets it for a sharded model
    checkpoint = checkpointer.load_checkpoint()
    assert checkpoint.trainer_state["epochs_completed"] == 1 and checkpoint.trainer_state["best_model_filename"] is None
    assert (run / "best.th").read_bytes() == b"allennlp's best.th"


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


def test_the_atomic_checkpointer_takes_allennlps_options(tmp_path):
    from allennlp.common import Params

    checkpointer = Checkpointer.from_params(Params({"type": "atomic", "keep_most_recent_by_count": 5,
                                                    "save_every_num_batches": 7}), serialization_dir=str(tmp_path))
    assert isinstance(checkpointer, AtomicCheckpointer)
    assert (checkpointer._keep_most_recent_by_count, checkpointer._save_every_num_batches) == (5, 7)


def leftovers_of_a_killed_save(folder, content):
    """The temporary files of both state files that a save killed midway leaves behind."""
    leftovers = [folder / ".model_state_e2_b0.th.k1ll3d.th", folder / ".training_state_e2_b0.th.k1ll3d.th"]
    for leftover in leftovers:
        leftover.write_bytes(content)
    return leftovers


def test_leftovers_of_both_state_files_are_removed_at_start(tmp_path):
    leftovers_of_a_killed_save(tmp_path, b"half a file")
    (tmp_path / "model_state_e1_b0.th").write_bytes(b"a checkpoint")
    AtomicCheckpointer(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model_state_e1_b0.th"]


class SecondaryWorkerCheckpointer(AtomicCheckpointer):
    """What rank 1 of a distributed training constructs (allennlp reads the rank from torch.distributed)."""

    _is_primary = property(lambda self: False)


def test_a_secondary_worker_leaves_the_leftovers_to_the_primary(tmp_path):
    """In a distributed training the primary may already be writing its next save when another rank starts."""
    leftovers = leftovers_of_a_killed_save(tmp_path, b"being written")
    SecondaryWorkerCheckpointer(tmp_path)
    assert all(leftover.read_bytes() == b"being written" for leftover in leftovers)


def test_a_checkpoint_without_a_metric_tracker_loads_as_it_is(tmp_path):
    """A trainer without validation saves no metric tracker: no best model to set right."""
    torch.save({"weight": torch.ones(2)}, tmp_path / "model_state_e1_b0.th")
    torch.save({"epochs_completed": 1, "batches_in_epoch_completed": 0}, tmp_path / "training_state_e1_b0.th")
    checkpoint = AtomicCheckpointer(tmp_path).load_checkpoint()
    assert checkpoint.trainer_state == {"epochs_completed": 1, "batches_in_epoch_completed": 0}
    assert not (tmp_path / "best.th").exists()
