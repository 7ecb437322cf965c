import json
import math
import os
from collections import defaultdict
from typing import Any, Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import dump_metrics
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.callbacks import TrainerCallback

from attention_perturb.files import write_atomically
from attention_perturb.provenance import PROVENANCE_FILE, provenance

STATISTICS = ("clean_loss", "adversarial_loss", "perturbation_norm")


@TrainerCallback.register("adversarial_statistics")
class AdversarialStatisticsCallback(TrainerCallback):
    """
    Records, per training epoch, the mean clean loss L, adversarial loss L_adv and perturbation norm
    ‖δ‖₂ that an `AdversarialAttentionModel` reports for each batch. They are added to the epoch's
    metrics as `training_clean_loss`, `training_adversarial_loss` and `training_perturbation_norm`
    (so they reach `metrics_epoch_N.json` and `metrics.json`) and written to TensorBoard under
    `<serialization_dir>/log/adversarial`. Vanilla training reports nothing and adds nothing.

    # Parameters

    serialization_dir : `str`
    tensorboard : `bool`, optional (default = `True`)
    """

    def __init__(self, serialization_dir: str, tensorboard: bool = True) -> None:
        super().__init__(serialization_dir)
        self._tensorboard = tensorboard
        self._writer = None
        self._sums: Dict[str, float] = defaultdict(float)
        self._batches = 0
        self._epoch: Optional[int] = None

    def on_batch(
        self,
        trainer,
        batch_inputs: List[Dict[str, Any]],
        batch_outputs: List[Dict[str, Any]],
        batch_metrics: Dict[str, Any],
        epoch: int,
        batch_number: int,
        is_training: bool,
        is_primary: bool = True,
        batch_grad_norm: Optional[float] = None,
        **kwargs,
    ) -> None:
        if not is_training:
            return
        if epoch != self._epoch:
            # The sums belong to one epoch, even if the last one never reached on_epoch.
            self._sums.clear()
            self._batches = 0
            self._epoch = epoch
        for output in batch_outputs:
            if all(name in output for name in STATISTICS):
                for name in STATISTICS:
                    self._sums[name] += float(output[name])
                self._batches += 1

    def on_epoch(self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs) -> None:
        # In distributed training each worker saw its own batches: the means are over all of them.
        batches = int(dist_reduce_sum(self._batches))
        sums = {name: float(dist_reduce_sum(torch.tensor(self._sums[name], dtype=torch.float64))) for name in STATISTICS}
        if batches and epoch >= 0:
            means = {f"training_{name}": sums[name] / batches for name in STATISTICS}
            metrics.update(means)
            if is_primary:
                # The trainer wrote this file just before calling us; rewrite it with our numbers.
                dump_metrics(os.path.join(self.serialization_dir, f"metrics_epoch_{epoch}.json"), metrics)
                self._log_to_tensorboard(means, epoch)
        self._sums.clear()
        self._batches = 0

    def _log_to_tensorboard(self, means: Dict[str, float], epoch: int) -> None:
        if not self._tensorboard:
            return
        if self._writer is None:
            from tensorboardX import SummaryWriter

            self._writer = SummaryWriter(os.path.join(self.serialization_dir, "log", "adversarial"))
        for name, value in means.items():
            self._writer.add_scalar(name, value, epoch)
        self._writer.flush()

    def on_end(self, trainer, metrics: Optional[Dict[str, Any]] = None, epoch: Optional[int] = None,
               is_primary: bool = True, **kwargs) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


@TrainerCallback.register("validation_agreement")
class ValidationAgreementCallback(TrainerCallback):
    """
    Chooses whether validation during training computes the attention/gradient agreement
    (`validation_pearson`), which costs one extra backward pass per validation batch. Off by
    default; after training it is switched back on, so the final test evaluation and the archived
    model report it.

    # Parameters

    serialization_dir : `str`
    enabled : `bool`, optional (default = `False`)
    """

    def __init__(self, serialization_dir: str, enabled: bool = False) -> None:
        super().__init__(serialization_dir)
        self._enabled = enabled

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        trainer.model.measure_agreement = self._enabled

    def on_end(self, trainer, metrics=None, epoch=None, is_primary: bool = True, **kwargs) -> None:
        trainer.model.measure_agreement = True


@TrainerCallback.register("stop_at_validation_ceiling")
class StopAtValidationCeilingCallback(TrainerCallback):
    """
    Ends training after the epoch whose validation metric (the trainer's `validation_metric`, one
    metric to maximise) first reaches `ceiling`, the metric's largest possible value (accuracy 1.0).
    A later epoch can only tie it, and a tie does not replace allennlp's best model, so the model
    kept and every metric reported for it are exactly those of the run left to its full length;
    only the epochs after a perfect validation score are skipped (bAbI trains for Jain & Wallace's
    100 epochs, and task 1 reaches 100 % validation accuracy after about 10 when it learns the task).

    # Parameters

    serialization_dir : `str`
    ceiling : `float`, optional (default = `1.0`)
    """

    def __init__(self, serialization_dir: str, ceiling: float = 1.0) -> None:
        super().__init__(serialization_dir)
        self._ceiling = ceiling

    def on_epoch(self, trainer, metrics: Dict[str, Any], epoch: int, is_primary: bool = True, **kwargs) -> None:
        tracker = trainer._metric_tracker
        if len(tracker.tracked_metrics) != 1 or tracker.tracked_metrics[0][0] < 0:
            raise ConfigurationError(
                "trainer.callbacks: stop_at_validation_ceiling needs one validation_metric to maximise, e.g. '+accuracy'"
            )
        name = tracker.tracked_metrics[0][1]
        if metrics.get(f"best_validation_{name}", -math.inf) >= self._ceiling:
            # allennlp's trainer stops, after this callback, once epochs without improvement ≥ patience.
            tracker._patience = 0


@TrainerCallback.register("provenance")
class ProvenanceCallback(TrainerCallback):
    """
    Adds, when training starts, this process's `attention_perturb.provenance.provenance()` (commit
    and whether the checkout was dirty, torch threads, library versions, machine, command line)
    to the list in `<serialization_dir>/provenance.json`, with the epochs already completed (0, or
    the checkpoint's epochs for a run continued with `--recover`). One entry per process, so a
    resumed run names every commit and thread count that trained it; records of finished runs keep
    the list beside the metrics.

    # Parameters

    serialization_dir : `str`
    """

    def on_start(self, trainer, is_primary: bool = True, **kwargs) -> None:
        if not is_primary:
            return
        path = os.path.join(self.serialization_dir, PROVENANCE_FILE)
        entries = json.loads(open(path).read()) if os.path.exists(path) else []
        entries.append({**provenance(), "epochs_completed_before": trainer._start_after_epochs_completed})
        write_atomically(path, json.dumps(entries, indent=1) + "\n")
