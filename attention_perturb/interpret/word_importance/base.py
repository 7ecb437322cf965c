from typing import Dict

import torch
from allennlp.common import Registrable

from attention_perturb.interpret.interface import AttentionModel, EmbeddedText


class WordImportance(Registrable):
    """
    A word importance measure over the tokens of the text a model attends to, compared with its
    attention weights by the agreement metrics (`pearson_<name>`, `kendall_<name>`,
    `top<k>_<name>`). `scores` gives signed or unsigned raw scores; calling the measure gives
    |scores| L1-normalised over the valid tokens (0 at padding, all 0 where every score is 0).

    Gradient measures take the gradient of the loss at the predicted labels with the attention
    weights in the graph (allennlp Interpret, the paper) or, with `detach_attention`, held constant
    as Jain & Wallace's `detach` does, so that the gradient reaches the words only through the
    encoder states the weights average.

    # Parameters

    detach_attention : `bool`, optional (default = `False`)
    """

    default_implementation = "gradient_x_input"
    measure_name: str

    def __init__(self, detach_attention: bool = False) -> None:
        self.detach_attention = detach_attention

    @property
    def name(self) -> str:
        return self.measure_name + ("_detached" if self.detach_attention else "")

    def scores(
        self, model: AttentionModel, embedded: Dict[str, EmbeddedText], labels: torch.LongTensor
    ) -> torch.Tensor:
        """(batch, T) raw scores of the attended text's tokens for the predicted `labels`."""
        raise NotImplementedError

    def __call__(
        self, model: AttentionModel, embedded: Dict[str, EmbeddedText], labels: torch.LongTensor
    ) -> torch.Tensor:
        mask = model.attended_text(embedded).mask
        return normalised_magnitudes(self.scores(model, embedded, labels), mask)


def normalised_magnitudes(scores: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """|scores| / Σ_valid |scores| per instance; 0 at padding and where the sum is 0."""
    magnitudes = scores.detach().abs() * mask
    totals = magnitudes.sum(1, keepdim=True)
    return torch.where(totals > 0, magnitudes / totals.clamp_min(torch.finfo(magnitudes.dtype).tiny), magnitudes)


def embedding_gradient(
    model: AttentionModel, embedded: Dict[str, EmbeddedText], labels: torch.LongTensor,
    detach_attention: bool,
) -> torch.Tensor:
    """∂L(x, ŷ)/∂e of the attended text's embeddings e, for every instance of the batch from one
    backward pass (each instance's loss depends on its own embeddings only)."""
    with torch.enable_grad():
        # A graph of its own: every text's embeddings as constants, the attended one as the input.
        constants = {name: text._replace(embeddings=text.embeddings.detach()) for name, text in embedded.items()}
        embeddings = model.attended_text(constants).embeddings.requires_grad_()
        loss = model.predicted_label_loss(model.with_attended_text(constants, embeddings), labels, detach_attention)
        (gradient,) = torch.autograd.grad(loss, embeddings)
    return gradient


def instances_at(embedded: Dict[str, EmbeddedText], index: torch.LongTensor) -> Dict[str, EmbeddedText]:
    """Every text's instances `index` (repeats allowed), e.g. one copy per variant of an input."""
    return {
        name: type(text)(*(None if field is None else field.index_select(0, index) for field in text))
        for name, text in embedded.items()
    }
