from typing import Dict

import torch

from attention_perturb.interpret.word_importance.base import WordImportance, embedding_gradient


@WordImportance.register("simple_gradient_allennlp")
class SimpleGradientAllennlp(WordImportance):
    """Bug-compatible with allennlp's `SimpleGradient` from 1.2.1 on (2.10.1 included): g_t · e_0,
    every token's gradient times the *first* token's embedding. Its forward hook squeezes the batch
    dimension off the embeddings and the interpreter then indexes `[0]` once more, so it multiplies
    by `embeddings[0]`, a single row. Not a word importance measure: a candidate explanation of the
    paper's Corr., had its authors computed importance with a later allennlp than their 1.1.0
    (where `SimpleGradient` is `gradient_x_input`)."""

    measure_name = "simple_gradient_allennlp"

    def scores(self, model, embedded: Dict, labels: torch.LongTensor) -> torch.Tensor:
        gradient = embedding_gradient(model, embedded, labels, self.detach_attention)
        first_token = model.attended_text(embedded).embeddings.detach()[:, :1]
        return (gradient * first_token).sum(-1)
