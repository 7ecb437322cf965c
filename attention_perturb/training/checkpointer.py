"""A checkpointer whose files appear whole or not at all, so `--recover` survives a kill mid-save."""
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

    def save_checkpoint(self, trainer) -> None:
        if self._serialization_dir is None:
            return
        state = trainer.get_checkpoint_state()
        if state is not None:
            point = (state.trainer_state["epochs_completed"], state.trainer_state["batches_in_epoch_completed"])
            for path, content in ((self._training_state_path(*point), state.trainer_state),
                                  (self._model_state_path(*point), state.model_state)):
                if not os.path.isfile(path):
                    write_atomically(path, lambda temporary, content=content: torch.save(content, temporary))
        # Both files now exist, so allennlp's own save only does its bookkeeping and pruning.
        super().save_checkpoint(trainer)
