import math
from typing import Optional

import torch
from allennlp.common import Registrable
from allennlp.modules.attention import Attention


def masked_attention_weights(scores: torch.Tensor, mask: torch.BoolTensor) -> torch.Tensor:
    """Eq. 3: a = softmax(ã) over the valid positions only; padding gets exactly zero weight and
    zero gradient."""
    masked_scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(masked_scores, dim=-1) * mask


class ScoreAttention(Attention, Registrable):
    """
    An allennlp `Attention` that also exposes its pre-softmax scores ã, the place where the
    attention perturbations of the paper act. `scores` is the stage a model calls; the usual
    `Attention.forward(vector, matrix, mask)` still returns normalised weights, so these modules
    work wherever allennlp expects an `Attention`.

    Subclasses are registered under `ScoreAttention`, not `Attention`, so their names do not
    clash with allennlp's own `additive` attention.
    """

    default_implementation = "additive"

    def scores(self, states: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(batch, length, dim) states and an optional (batch, query_dim) query -> (batch, length) ã."""
        raise NotImplementedError

    def _forward_internal(self, vector: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
        return self.scores(matrix, vector)


@ScoreAttention.register("additive")
class AdditiveScoreAttention(ScoreAttention):
    """
    Additive (Bahdanau) scores: ã_t = cᵀ tanh(W h_t + b) (Eq. 2), or with a query vector q such as
    the question's last state in the pair model, ã_t = cᵀ tanh(W₁ h_t + W₂ q + b) (Eq. 7).

    # Parameters

    input_dim : `int`
        Dimension m of the states h_t.
    hidden_dim : `int`, optional (default = `128`)
        Dimension d' of the projection.
    query_dim : `int`, optional (default = `None`)
        Dimension of the query vector; `None` for the single-sequence Eq. 2.
    """

    def __init__(self, input_dim: int, hidden_dim: int = 128, query_dim: Optional[int] = None) -> None:
        super().__init__(normalize=True)
        self.state_projection = torch.nn.Linear(input_dim, hidden_dim)
        self.query_projection = (
            torch.nn.Linear(query_dim, hidden_dim, bias=False) if query_dim is not None else None
        )
        self.context = torch.nn.Linear(hidden_dim, 1, bias=False)

    def scores(self, states: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        projected = self.state_projection(states)
        if self.query_projection is not None:
            if query is None:
                raise ValueError("this additive attention was built with query_dim and needs a query")
            projected = projected + self.query_projection(query).unsqueeze(1)
        return self.context(torch.tanh(projected)).squeeze(-1)


@ScoreAttention.register("scaled_dot")
class ScaledDotScoreAttention(ScoreAttention):
    """
    Scaled dot-product scores ã_t = qᵀ h_t / √m. Without a query (single-sequence models) q is a
    learned context vector.

    # Parameters

    input_dim : `int`
        Dimension m of the states h_t.
    query_dim : `int`, optional (default = `None`)
        Dimension of an external query; it is projected to `input_dim`. `None` uses a learned query.
    """

    def __init__(self, input_dim: int, query_dim: Optional[int] = None) -> None:
        super().__init__(normalize=True)
        self._scale = math.sqrt(input_dim)
        self.query_projection = torch.nn.Linear(query_dim, input_dim) if query_dim is not None else None
        self.learned_query = (
            torch.nn.Parameter(torch.randn(input_dim) / self._scale) if query_dim is None else None
        )

    def scores(self, states: torch.Tensor, query: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.query_projection is not None:
            if query is None:
                raise ValueError("this scaled_dot attention was built with query_dim and needs a query")
            query = self.query_projection(query)
        else:
            query = self.learned_query.expand(states.size(0), -1)
        return torch.bmm(states, query.unsqueeze(-1)).squeeze(-1) / self._scale
