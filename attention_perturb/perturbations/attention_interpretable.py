import torch
from allennlp.common.checks import ConfigurationError

from attention_perturb.perturbations.base import ATTENTION, Perturbation, per_instance_unit

NORMALIZATIONS = ("token", "sentence")


def normalized_score_differences(
    scores: torch.Tensor, mask: torch.BoolTensor, normalization: str
) -> torch.Tensor:
    """
    Eq. 13-14: d_{t,k} = ã_t − ã_k over a sentence's valid tokens, (batch, T, T), zero wherever t or
    k is padding. `"token"` divides each row d_t by ‖d_t‖₂ (Eq. 14 read literally); `"sentence"`
    divides the whole T×T matrix of a sentence by its norm (footnote 3). All-zero rows or
    matrices stay zero.
    """
    pair_mask = mask.unsqueeze(2) & mask.unsqueeze(1)
    differences = (scores.unsqueeze(2) - scores.unsqueeze(1)) * pair_mask
    if normalization == "token":
        norms = differences.norm(dim=2, keepdim=True)
    else:
        norms = differences.flatten(1).norm(dim=1).view(-1, 1, 1)
    return torch.where(norms > 0, differences / norms.clamp_min(torch.finfo(scores.dtype).tiny), differences)


@Perturbation.register("attention_interpretable")
class AttentionInterpretable(Perturbation):
    """
    Attention iAT, Eq. 13-19. The perturbation of token t is a weighted sum of the normalised
    differences between its score and the other tokens' scores, r(α)_t = α_tᵀ d̃_t (Eq. 15-16).
    The weights are the linearised worst case under ‖α‖₂ ≤ ε (Eq. 17-18): α = ε·g/‖g‖₂ with
    g = ∇_α L at α = 0, which by the chain rule is g_{t,k} = (∂L/∂ã_t)·d̃_{t,k}; then
    ã_iadv = ã + r(α) (Eq. 19). d̃ is treated as a constant, as in the paper.

    With `normalization="token"` this collapses to Attention AT exactly (see README); `"sentence"`
    scales each token's step by ‖d_t‖², enlarging the steps of tokens whose score stands out from
    the rest (the paper's "attention difference enhancement").

    # Parameters

    epsilon : `float`, optional (default = `1.0`)
    normalization : `str`, optional (default = `"sentence"`)
        `"sentence"` or `"token"`, see above.
    """

    target = ATTENTION

    def __init__(self, epsilon: float = 1.0, normalization: str = "sentence") -> None:
        super().__init__(epsilon)
        if normalization not in NORMALIZATIONS:
            raise ConfigurationError(
                f"model.perturbation.normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        self.normalization = normalization

    def __call__(self, values, gradient, mask, **context) -> torch.Tensor:
        directions = normalized_score_differences(values, mask, self.normalization)
        alpha_gradient = gradient.unsqueeze(2) * directions
        alpha = self.epsilon * per_instance_unit(alpha_gradient, mask)
        return (alpha * directions).sum(dim=2) * mask
