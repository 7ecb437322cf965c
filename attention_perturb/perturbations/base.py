from typing import ClassVar, Optional

import torch
from allennlp.common import Registrable

from attention_perturb.checks import check_non_negative

ATTENTION, EMBEDDING = "attention", "embedding"


def per_instance_unit(vectors: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    Scales each instance's `vectors` (batch, length, ...) to unit L2 norm over its valid positions;
    padded positions become zero, and an instance whose valid part is all zero stays all zero
    (never NaN).
    """
    while mask.dim() < vectors.dim():
        mask = mask.unsqueeze(-1)
    vectors = vectors * mask
    norms = vectors.flatten(1).norm(dim=1).view(-1, *([1] * (vectors.dim() - 1)))
    return torch.where(norms > 0, vectors / norms.clamp_min(torch.finfo(vectors.dtype).tiny), vectors)


class Perturbation(Registrable):
    """
    One way of perturbing a model during training (the L_adv term of Eq. 20). A perturbation is a
    pure function of the perturbed values (attention scores ã or word embeddings e), the gradient
    of the clean loss with respect to them, and the mask: it returns δ of the same shape, detached,
    zero at padding. It keeps no state between calls and never calls backward itself.

    `target` says where δ is added: `"attention"` (only the attention head is re-run),
    `"embedding"` (the encoder is re-run), or `None` (plain training).

    # Parameters

    epsilon : `float`, optional (default = `1.0`)
        The perturbation size ε, finite and ≥ 0.
    """

    default_implementation = "none"
    target: ClassVar[Optional[str]] = None
    needs_gradient: ClassVar[bool] = True
    # Word iAT's directions point at other words: only it is given rows of the (normalised)
    # embedding matrix beyond the batch's, on demand (`EmbeddingRows`).
    needs_embedding_matrix: ClassVar[bool] = False

    def __init__(self, epsilon: float = 1.0) -> None:
        check_non_negative("model.perturbation.epsilon", epsilon)
        self.epsilon = float(epsilon)

    def __call__(
        self,
        values: torch.Tensor,
        gradient: Optional[torch.Tensor],
        mask: torch.BoolTensor,
        **context,
    ) -> torch.Tensor:
        raise NotImplementedError
