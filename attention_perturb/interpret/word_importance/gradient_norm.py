from typing import Dict

import torch

from attention_perturb.interpret.word_importance.base import WordImportance, embedding_gradient


@WordImportance.register("gradient_norm")
class GradientNorm(WordImportance):
    """‖∂L(x, ŷ)/∂e_t‖₂, the gradient's size alone (Li et al. 2016), L1-normalised."""

    measure_name = "gradient_norm"

    def scores(self, model, embedded: Dict, labels: torch.LongTensor) -> torch.Tensor:
        return embedding_gradient(model, embedded, labels, self.detach_attention).norm(dim=-1)
