import torch

from attention_perturb.perturbations.attention_adversarial import AttentionAdversarial
from attention_perturb.perturbations.base import Perturbation


@Perturbation.register("attention_loss_decreasing")
class AttentionLossDecreasing(AttentionAdversarial):
    """
    −r_AT = −ε·g/‖g‖₂ (g = ∇_ã L): a step that *lowers* the loss to first order. This is what the
    authors' released "iAT" code computes (`shunk031/attention-meets-perturbation`, see
    ../shared/FIDELITY.md), kept as a variant for the agreement study; it is not the paper's
    Eq. 13-19 (`attention_interpretable`).
    """

    def __call__(self, values, gradient, mask, **context) -> torch.Tensor:
        return -super().__call__(values, gradient, mask, **context)
