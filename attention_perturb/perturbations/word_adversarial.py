import torch

from attention_perturb.perturbations.base import EMBEDDING, Perturbation, per_instance_unit


@Perturbation.register("word_adversarial")
class WordAdversarial(Perturbation):
    """
    Word AT (Miyato et al. 2017, Eq. 1-2 there): r = ε·g/‖g‖₂ with g = ∇_e L, over all valid word
    embeddings of an instance; the encoder is re-run on e + r.

    # Parameters

    epsilon : `float`, optional (default = `5.0`, the paper's setting)
    """

    target = EMBEDDING

    def __init__(self, epsilon: float = 5.0) -> None:
        super().__init__(epsilon)

    def __call__(self, values, gradient, mask, **context) -> torch.Tensor:
        return self.epsilon * per_instance_unit(gradient, mask)
