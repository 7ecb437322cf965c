from typing import Dict

import torch

from attention_perturb.interpret.word_importance.base import WordImportance, embedding_gradient


@WordImportance.register("gradient_x_input")
class GradientTimesInput(WordImportance):
    """g_t · e_t with g_t = ∂L(x, ŷ)/∂e_t (Simonyan et al.; allennlp 1.1's `SimpleGradient`): the
    paper's Table 2 measure, |g_t · e_t| / Σ_s |g_s · e_s|."""

    measure_name = "gradient_x_input"

    def scores(self, model, embedded: Dict, labels: torch.LongTensor) -> torch.Tensor:
        gradient = embedding_gradient(model, embedded, labels, self.detach_attention)
        return (gradient * model.attended_text(embedded).embeddings.detach()).sum(-1)
