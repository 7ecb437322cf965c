"""What the importance measures and agreements need of a model: the small interface every attention
model of the package implements (`models/adversarial.py`), so that `interpret` imports no model."""
from typing import Dict, NamedTuple, Optional, Protocol

import torch


class EmbeddedText(NamedTuple):
    """The word embeddings e of one text input, its mask and token ids (the Word AT/iAT stage),
    and, for a QA passage, the labels its answer may take (multi-hot over the labels)."""

    embeddings: torch.Tensor
    mask: torch.BoolTensor
    token_ids: torch.LongTensor
    answer_candidates: Optional[torch.BoolTensor] = None


class AttentionModel(Protocol):
    """A model whose attention weights the tokens of one of its texts (`attended_key`), with the
    stages a measure re-runs: from the embedded texts to logits, and the loss at given labels."""

    attended_key: str

    def attended_text(self, embedded: Dict[str, EmbeddedText]) -> EmbeddedText:
        ...

    def with_attended_text(self, embedded: Dict[str, EmbeddedText], embeddings: torch.Tensor) -> Dict[str, EmbeddedText]:
        ...

    def logits_of(self, embedded: Dict[str, EmbeddedText], detach_attention: bool = False) -> torch.Tensor:
        ...

    def predicted_label_loss(self, embedded: Dict[str, EmbeddedText], labels: torch.LongTensor,
                             detach_attention: bool = False) -> torch.Tensor:
        ...

    def label_probabilities(self, logits: torch.Tensor, labels: torch.LongTensor) -> torch.Tensor:
        ...
