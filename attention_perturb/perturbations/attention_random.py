import torch

from attention_perturb.perturbations.base import ATTENTION, Perturbation, per_instance_unit


@Perturbation.register("attention_random")
class AttentionRandom(Perturbation):
    """
    Attention RP: a random perturbation of the attention scores, r = ε·u/‖u‖₂ with u ~ N(0, I)
    over the valid positions (the paper's random-perturbation baseline to Eq. 11-12).
    """

    target = ATTENTION
    needs_gradient = False

    def __call__(self, values, gradient, mask, **context) -> torch.Tensor:
        return self.epsilon * per_instance_unit(torch.randn_like(values), mask)
