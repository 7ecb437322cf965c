import torch

from attention_perturb.perturbations.base import ATTENTION, Perturbation, per_instance_unit


@Perturbation.register("attention_adversarial")
class AttentionAdversarial(Perturbation):
    """
    Attention AT, Eq. 10-12: the worst-case perturbation of the pre-softmax scores under
    ‖r‖₂ ≤ ε, linearised as r_AT = ε·g/‖g‖₂ with g = ∇_ã L (Eq. 11); the model then uses
    ã_adv = ã + r_AT (Eq. 12).
    """

    target = ATTENTION

    def __call__(self, values, gradient, mask, **context) -> torch.Tensor:
        return self.epsilon * per_instance_unit(gradient, mask)
