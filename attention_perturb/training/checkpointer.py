"""A checkpointer whose files appear whole or not at all, so `--recover` survives a kill mid-save."""
import glob
import os

import torch
from allennlp.training.checkpointer import Checkpointer

from attention_perturb.files import write_atomically


@Checkpointer.register("atomic")
class AtomicCheckpointer(Checkpointer):
    """
    allennlp's `default` checkpointer with one difference: each state file is written under a hidden
    temporary name and renamed into place, the training state before the model state. allennlp
    finds checkpoints by their model state file, so a process killed while saving leaves the
    previous checkpoint as the latest one instead of a truncated file that `--recover` cannot load.

    # Parameters

    Those of allennlp's `Checkpointer` (`save_completed_epochs`, `save_every_num_seconds`,
    `save_every_num_batches`, `keep_most_recent_by_count`, `keep_most_recent_by_age`).
    """

    def __init__(self, serialization_dir, **kwargs) -> None:
        super().__init__(serialization_dir, **kwargs)
        if self._is_primary and os.path.isdir(self._serialization_dir):
            # Temporary files of a process killed mid-save: nothing is writing them any more.
            for pattern in (".model_state_e*", ".training_state_e*"):
                for leftover in glob.glob(os.path.join(self._serialization_dir, pattern)):
                    os.remove(leftover)

    def load_checkpoint(self):
        """allennlp's checkpoint, with its best model set right. At an epoch's end allennlp saves the
        checkpoint before it copies that epoch's weights to `best.th`, so the training state of an
        epoch that is the best so far names no best model (the first epoch) or the previous best. A
        run recovered from it, if no later epoch beats that epoch, ends with the last epoch's weights
        in memory and computes its test metrics with them, while its archive holds `best.th`. The
        checkpoint's own weights are the best ones then: they are written to `best.th` (which a kill
        may have left older) and the training state names it. Not for checkpoints saved mid-epoch
        (whose "best so far" is an earlier epoch's, already in `best.th`), with a moving average
        (`best.th` holds the averaged weights) or sharded models (one `best_w<rank>.th` each)."""
        checkpoint = super().load_checkpoint()
        if checkpoint is None:
            return None
        state = checkpoint.trainer_state
        saved_before_its_best_copy = (
            state.get("metric_tracker", {}).get("is_best_so_far")
            and state.get("batches_in_epoch_completed") == 0
            and "moving_average" not in state
            and not getattr(self, "state_is_sharded", False)
        )
        if saved_before_its_best_copy:
            best = os.path.join(self._serialization_dir, "best.th")
            if self._is_primary:
                write_atomically(best, lambda temporary: torch.save(checkpoint.model_state, temporary))
            state["best_model_filename"] = best
        return checkpoint

    def save_checkpoint(self, trainer) -> None:
        if self._serialization_dir is None:
            return
        state = trainer.get_checkpoint_state()
        if state is not None:
            point = (state.trainer_state["epochs_completed"], state.trainer_state["batches_in_epoch_completed"])
            model_state_path = self._model_state_path(*point)
            # The model state marks a complete checkpoint; without it, a training state already there
            # is an orphan of a killed save and is replaced with this run's.
            if not os.path.isfile(model_state_path):
                for path, content in ((self._training_state_path(*point), state.trainer_state),
                                      (model_state_path, state.model_state)):
                    write_atomically(path, lambda temporary, content=content: torch.save(content, temporary))
        # Both files now exist, so allennlp's own save only does its bookkeeping and pruning; it asks
        # the trainer for its state again, which is given the one already taken.
        super().save_checkpoint(_TakenState(state))


class _TakenState:
    def __init__(self, state) -> None:
        self._state = state

    def get_checkpoint_state(self):
        return self._state
