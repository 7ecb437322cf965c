from typing import Optional

import torch

from attention_perturb.perturbations.base import Perturbation


@Perturbation.register("none")
class NoPerturbation(Perturbation):
    """Vanilla training: no adversarial term, L_adv = 0 (the paper's "Vanilla" rows)."""

    target = None
    needs_gradient = False

    def __init__(self, epsilon: float = 0.0) -> None:
        super().__init__(epsilon)

    def __call__(self, values, gradient: Optional[torch.Tensor], mask, **context) -> torch.Tensor:
        return torch.zeros_like(values)
