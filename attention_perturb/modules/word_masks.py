from typing import Tuple

import torch


class VariationalWordMask(torch.nn.Module):
    """
    Variational word masks (Chen & Ji 2020) as FLAT uses them: a binary mask W_i ~ Bernoulli(φ_i)
    per word, where the global importance φ_i = q(W_i = 1 | e_i) depends on the word embedding
    alone, through a one-hidden-layer inference network (amortised variational inference). In
    training W is sampled with the Gumbel-softmax trick; in inference W = φ ("we multiply each
    word embedding and its global importance score"). FLAT's g_φ(x) = W ⊙ x is Eq. 4.

    By default the sampled masks are binary, as the paper's "binary masks" and the authors' code
    (`my_lstm_vmask.py`, `gumbel_softmax(p, hard=True)`, τ = 1, hidden size 400, UVa-NLP/FLAT
    @ 5094803): straight-through, the encoder sees each word whole or not at all and the gradient
    is the relaxed sample's.

    # Parameters

    embedding_dim : `int`
    hidden_dim : `int`, optional (default = `400`)
    temperature : `float`, optional (default = `1.0`)
        τ of the Gumbel-softmax relaxation.
    hard : `bool`, optional (default = `True`)
        Binary (straight-through) samples; `False` gates the embeddings by the relaxed sample in (0, 1).
    """

    def __init__(self, embedding_dim: int, hidden_dim: int = 400, temperature: float = 1.0, hard: bool = True) -> None:
        super().__init__()
        self.hidden = torch.nn.Linear(embedding_dim, hidden_dim)
        self.output = torch.nn.Linear(hidden_dim, 2)
        self.temperature = temperature
        self.hard = hard

    def logits(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(batch, length, 2) logits of q(W = 0 | e) and q(W = 1 | e)."""
        return self.output(torch.tanh(self.hidden(embeddings)))

    def forward(self, embeddings: torch.Tensor, mask: torch.BoolTensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Eq. 4: the masked embeddings W ⊙ e and the importance φ, both zero at padding."""
        logits = self.logits(embeddings)
        importance = torch.softmax(logits, dim=-1)[..., 1] * mask
        if self.training:
            selection = torch.nn.functional.gumbel_softmax(logits, tau=self.temperature, hard=self.hard)[..., 1] * mask
        else:
            selection = importance
        return embeddings * selection.unsqueeze(-1), importance
