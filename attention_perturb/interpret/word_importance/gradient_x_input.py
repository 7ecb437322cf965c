from typing import Dict

import torch

from attention_perturb.interpret.word_importance.base import WordImportance, embedding_gradient, normalised_magnitudes


def gradient_times_input(gradient: torch.Tensor, embeddings: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """
    Gradient word importance (Simonyan et al. 2014, the paper's [26]) from g_t = ∂L(x, ŷ)/∂e_t, the
    gradient of the loss at the *predicted* label: importance_t = |g_t · e_t| / Σ_s |g_s · e_s| over
    the valid tokens (0 at padding). The definition of allennlp Interpret's `SimpleGradient` (1.1.0,
    which the paper's authors used); from 1.2.1 on its code multiplies every token's gradient by the
    first token's embedding instead (`simple_gradient_allennlp`).
    """
    return normalised_magnitudes((gradient * embeddings.detach()).sum(-1), mask)


@WordImportance.register("gradient_x_input")
class GradientTimesInput(WordImportance):
    """g_t · e_t (`gradient_times_input`), the paper's Table 2 measure, |g_t · e_t| / Σ_s |g_s · e_s|."""

    measure_name = "gradient_x_input"

    def scores(self, model, embedded: Dict, labels: torch.LongTensor) -> torch.Tensor:
        gradient = embedding_gradient(model, embedded, labels, self.detach_attention)
        return (gradient * model.attended_text(embedded).embeddings.detach()).sum(-1)
