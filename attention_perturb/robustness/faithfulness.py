"""
ERASER's faithfulness of an explanation (DeYoung et al. 2020, §4), with the attention's top-k
tokens as the rationale r of each input x and c the class predicted on x:

    comprehensiveness = p(c | x) − p(c | x \\ r)     (higher: the rationale was needed)
    sufficiency       = p(c | x) − p(c | r)         (lower: the rationale alone suffices)

Tokens are erased, not masked: the remaining ones close up, as in ERASER.
"""
from typing import Callable, Tuple

import torch


def attention_rationale(attention: torch.Tensor, mask: torch.BoolTensor, k: int, keep_one_out: bool = False) -> torch.BoolTensor:
    """The top-k attended valid positions of each instance, k capped at its length (at its length
    minus one with `keep_one_out`, so that erasing the rationale never leaves an empty input)."""
    lengths = mask.sum(1)
    limits = (lengths - 1 if keep_one_out else lengths).clamp(min=0, max=k)
    order = attention.masked_fill(~mask, -float("inf")).argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(order.size(1), device=order.device).expand_as(order))
    return (rank < limits.unsqueeze(1)) & mask


def erase(token_ids: torch.LongTensor, keep: torch.BoolTensor) -> torch.LongTensor:
    """Each row's kept tokens, in order, closed up to the left and padded with 0."""
    order = (~keep).to(torch.int8).argsort(dim=1, stable=True)  # kept positions first, in order
    compacted = token_ids.gather(1, order) * keep.gather(1, order)
    width = max(int(keep.sum(1).max()), 1)
    return compacted[:, :width]


def comprehensiveness_and_sufficiency(
    predict: Callable[[torch.LongTensor], torch.Tensor],
    token_ids: torch.LongTensor,
    mask: torch.BoolTensor,
    attention: torch.Tensor,
    probabilities: torch.Tensor,
    k: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Per-instance ERASER comprehensiveness and sufficiency of the attention's top-k rationale;
    `predict` maps token ids (0 = padding) to class probabilities, `probabilities` are those of
    the full inputs.
    """
    predicted = probabilities.argmax(-1, keepdim=True)
    full = probabilities.gather(1, predicted).squeeze(1)
    without_rationale = predict(erase(token_ids, mask & ~attention_rationale(attention, mask, k, keep_one_out=True)))
    only_rationale = predict(erase(token_ids, attention_rationale(attention, mask, k)))
    return (
        full - without_rationale.gather(1, predicted).squeeze(1),
        full - only_rationale.gather(1, predicted).squeeze(1),
    )
