from typing import Optional, Sequence

import numpy
import torch
from allennlp.training.metrics import Metric


def pearson_per_instance(first: torch.Tensor, second: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    Pearson correlation of two (batch, T) tensors per instance over its valid positions. Instances
    with fewer than two valid positions, or where either vector is constant, get NaN: callers skip
    and count them rather than average a NaN.
    """
    mask = mask.to(first.dtype)
    counts = mask.sum(1)
    safe_counts = counts.clamp_min(1)
    first_centred = (first - (first * mask).sum(1, keepdim=True) / safe_counts.unsqueeze(1)) * mask
    second_centred = (second - (second * mask).sum(1, keepdim=True) / safe_counts.unsqueeze(1)) * mask
    covariance = (first_centred * second_centred).sum(1)
    scale = first_centred.norm(dim=1) * second_centred.norm(dim=1)
    # Relative tolerance: float noise around a constant vector must count as constant.
    constant = (first_centred.abs().amax(1) <= 1e-7 * first.abs().amax(1).clamp_min(1e-30)) | (
        second_centred.abs().amax(1) <= 1e-7 * second.abs().amax(1).clamp_min(1e-30)
    )
    degenerate = (counts < 2) | constant | (scale == 0)
    return torch.where(degenerate, torch.full_like(covariance, float("nan")), covariance / scale.clamp_min(1e-30))


def kendall_tau(first: Sequence[float], second: Sequence[float]) -> Optional[float]:
    """
    Kendall's τ-b of two equally long vectors (scipy's default variant), or `None` where it is
    undefined (fewer than two values, or a constant vector). Over all pairs i < j with
    s_x = sign(x_i − x_j), s_y = sign(y_i − y_j): τ_b = Σ s_x·s_y / √(#{s_x ≠ 0}·#{s_y ≠ 0}).
    Written out because scipy's per-call overhead (about 1 ms) dominated a whole prediction.
    """
    first, second = numpy.asarray(first, dtype=float), numpy.asarray(second, dtype=float)
    if len(first) < 2 or numpy.ptp(first) == 0 or numpy.ptp(second) == 0:
        return None
    upper = numpy.triu_indices(len(first), k=1)
    first_signs = numpy.sign(first[:, None] - first[None, :])[upper]
    second_signs = numpy.sign(second[:, None] - second[None, :])[upper]
    untied = numpy.count_nonzero(first_signs) * numpy.count_nonzero(second_signs)
    return float((first_signs * second_signs).sum() / numpy.sqrt(untied))


@Metric.register("attention_agreement")
class AttentionAgreement(Metric):
    """
    Mean per-instance Pearson correlation between attention weights and gradient word importance
    (the paper's Table 2 "Corr."). Instances where it is undefined (length 1, constant vectors) are
    skipped and counted in `pearson_skipped`; the mean is over the others.
    """

    def __init__(self) -> None:
        self._total = 0.0
        self._count = 0
        self._skipped = 0

    def __call__(self, correlations: torch.Tensor) -> None:
        """Accumulates a batch of per-instance correlations from `pearson_per_instance`."""
        defined = ~torch.isnan(correlations)
        self._total += float(correlations[defined].sum())
        self._count += int(defined.sum())
        self._skipped += int((~defined).sum())

    @property
    def measured(self) -> bool:
        return bool(self._count or self._skipped)

    def get_metric(self, reset: bool = False):
        metric = {
            "pearson": self._total / self._count if self._count else 0.0,
            "pearson_skipped": float(self._skipped),
        }
        if reset:
            self.reset()
        return metric

    def reset(self) -> None:
        self._total, self._count, self._skipped = 0.0, 0, 0
