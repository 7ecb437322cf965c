from typing import Dict, Optional, Sequence

import numpy
import torch
from allennlp.nn.util import dist_reduce_sum
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


def kendall_per_instance(first: torch.Tensor, second: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    Kendall's τ-b (see `kendall_tau`) of two (batch, T) tensors per instance over its valid
    positions, from the (batch, T, T) sign matrices at once; NaN where undefined (fewer than two
    valid positions, or a constant vector).
    """
    pairs = (mask[:, :, None] & mask[:, None, :]).triu(diagonal=1)
    first_signs = torch.sign(first[:, :, None] - first[:, None, :]) * pairs
    second_signs = torch.sign(second[:, :, None] - second[:, None, :]) * pairs
    untied = first_signs.abs().flatten(1).sum(1) * second_signs.abs().flatten(1).sum(1)
    concordance = (first_signs * second_signs).flatten(1).sum(1)
    return torch.where(untied > 0, concordance / untied.clamp_min(1).sqrt(), torch.full_like(concordance, float("nan")))


def top_k_positions(values: torch.Tensor, mask: torch.BoolTensor, k: int) -> torch.BoolTensor:
    """The k largest valid values per instance (every valid position where an instance has at most
    k), as a (batch, T) mask; ties broken by position, the earlier first."""
    masked = values.masked_fill(~mask, float("-inf"))
    order = masked.argsort(dim=1, descending=True, stable=True)[:, :k]
    return torch.zeros_like(mask).scatter(1, order, True) & mask


def top_k_overlap_per_instance(first: torch.Tensor, second: torch.Tensor, mask: torch.BoolTensor, k: int,
                               short_texts: str = "undefined") -> torch.Tensor:
    """
    |top-k(first) ∩ top-k(second)| / k per instance over its valid positions (`top_k_positions`).
    An instance of at most k tokens, whose two top-k sets are both every token, is NaN with
    `short_texts="undefined"` (the agreement metric), or compared over its own length with
    `"capped"` (SEAT's V_k, FLAT's top-k intersection: k is the length, so identical sets give 1).
    """
    if short_texts not in ("undefined", "capped"):
        raise ValueError(f"short_texts must be 'undefined' or 'capped', got {short_texts!r}")
    lengths = mask.sum(1)
    shared = (top_k_positions(first, mask, k) & top_k_positions(second, mask, k)).sum(1).to(first.dtype)
    if short_texts == "capped":
        return shared / lengths.clamp(max=k).clamp_min(1).to(first.dtype)
    overlap = shared / k
    return torch.where(lengths > k, overlap, torch.full_like(overlap, float("nan")))


@Metric.register("attention_agreement")
class AttentionAgreement(Metric):
    """
    Mean per-instance agreements between attention weights and word importance, by name: `pearson`
    (the paper's Table 2 "Corr.", gradient × input) and whatever else the model adds, e.g.
    `kendall_leave_one_out`. Instances where a value is undefined (NaN: length 1, constant
    vectors) are skipped; `pearson`'s skipped count is reported as `pearson_skipped`.
    """

    def __init__(self) -> None:
        self._totals: Dict[str, float] = {}
        self._counts: Dict[str, int] = {}
        self._skipped: Dict[str, int] = {}

    def __call__(self, correlations: torch.Tensor, name: str = "pearson") -> None:
        """Accumulates a batch of per-instance values (NaN: undefined) under `name`."""
        defined = ~torch.isnan(correlations)
        # Summed over the workers of distributed training, as allennlp's own metrics.
        total = dist_reduce_sum(correlations[defined].double().sum())
        counts = dist_reduce_sum(torch.stack([defined.sum(), (~defined).sum()]))
        self._totals[name] = self._totals.get(name, 0.0) + float(total)
        self._counts[name] = self._counts.get(name, 0) + int(counts[0])
        self._skipped[name] = self._skipped.get(name, 0) + int(counts[1])

    @property
    def measured(self) -> bool:
        return bool(self._totals)

    def get_metric(self, reset: bool = False):
        metric = {name: total / self._counts[name] if self._counts[name] else 0.0 for name, total in self._totals.items()}
        if "pearson" in self._skipped:
            metric["pearson_skipped"] = float(self._skipped["pearson"])
        if reset:
            self.reset()
        return metric

    def reset(self) -> None:
        self._totals, self._counts, self._skipped = {}, {}, {}
