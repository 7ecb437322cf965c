from typing import Dict

import torch

from attention_perturb.interpret.word_importance.base import WordImportance, embedding_gradient, instances_at


@WordImportance.register("integrated_gradients")
class IntegratedGradients(WordImportance):
    """
    Integrated gradients (Sundararajan et al. 2017) of the loss at the predicted label from a zero
    baseline (in the embed stage's output space): IG_t = e_t · (1/m) Σ_{k=1..m} ∂L(k/m · x, ŷ)/∂e_t,
    summed over the embedding dimensions (a right Riemann sum of m steps; Σ_t IG_t tends to
    L(x) − L(0)). The steps of the whole batch run as one batch, `max_batch` rows per pass.

    # Parameters

    detach_attention : `bool`, optional (default = `False`)
    steps : `int`, optional (default = `20`)
    max_batch : `int`, optional (default = `1024`)
    """

    measure_name = "integrated_gradients"

    def __init__(self, detach_attention: bool = False, steps: int = 20, max_batch: int = 1024) -> None:
        super().__init__(detach_attention)
        self.steps = steps
        self.max_batch = max_batch

    def scores(self, model, embedded: Dict, labels: torch.LongTensor) -> torch.Tensor:
        embeddings = model.attended_text(embedded).embeddings.detach()
        batch_size = embeddings.size(0)
        alphas = torch.arange(1, self.steps + 1, dtype=embeddings.dtype, device=embeddings.device) / self.steps
        gradient_sum = torch.zeros_like(embeddings)
        steps_per_pass = max(1, self.max_batch // batch_size)
        for start in range(0, self.steps, steps_per_pass):
            step_alphas = alphas[start:start + steps_per_pass]
            count = step_alphas.numel()
            index = torch.arange(batch_size, device=embeddings.device).repeat(count)  # step-major rows
            scaled = (step_alphas[:, None, None, None] * embeddings).flatten(0, 1)
            steps = model.with_attended_text(instances_at(embedded, index), scaled)
            gradient = embedding_gradient(model, steps, labels.repeat(count), self.detach_attention)
            gradient_sum += gradient.view(count, *embeddings.shape).sum(0)
        return (embeddings * gradient_sum / self.steps).sum(-1)
