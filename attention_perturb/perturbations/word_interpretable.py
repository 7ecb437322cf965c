from typing import Callable, NamedTuple, Optional, Union

import torch
from allennlp.common.checks import ConfigurationError

from attention_perturb.perturbations.base import EMBEDDING, Perturbation, per_instance_unit


def nearest_neighbours(
    token_ids: torch.LongTensor, embedding_matrix: torch.Tensor, num_neighbours: int, padding_index: int = 0
) -> torch.LongTensor:
    """
    The `num_neighbours` nearest vocabulary words (Euclidean, in the current embedding space) of
    each token, shape `token_ids.shape + (K,)`; the word itself and padding are excluded. Computed
    once per distinct word, a block of words at a time so that memory stays bounded.
    """
    unique_ids, inverse = token_ids.unique(return_inverse=True)
    # ‖q − w‖² = ‖q‖² − 2q·w + ‖w‖², and ‖q‖² is the same for all candidates of a query, so
    # ‖w‖² − 2q·w ranks them alike: one matrix product, half of what cdist spends.
    squared_norms = (embedding_matrix * embedding_matrix).sum(dim=1)
    k = min(num_neighbours, embedding_matrix.size(0) - 2)
    block = max(1, 2**24 // embedding_matrix.size(0))  # 64 MiB of float32 distances at most
    neighbours = []
    for queries in unique_ids.split(block):
        distances = torch.addmm(squared_norms, embedding_matrix[queries], embedding_matrix.t(), alpha=-2)
        distances[:, padding_index] = float("inf")
        distances[torch.arange(len(queries), device=distances.device), queries] = float("inf")
        neighbours.append(distances.topk(k, dim=1, largest=False).indices)
    return torch.cat(neighbours)[inverse]


class EmbeddingRows(NamedTuple):
    """The rows of a (V, D) embedding matrix on demand, so that only the rows needed are computed:
    `lookup(ids)` gives rows `ids` (all rows for None); `size` is V."""

    lookup: Callable[[Optional[torch.LongTensor]], torch.Tensor]
    size: int

    @classmethod
    def of(cls, matrix: Union[torch.Tensor, "EmbeddingRows"]) -> "EmbeddingRows":
        if isinstance(matrix, EmbeddingRows):
            return matrix
        return cls(lambda ids: matrix if ids is None else matrix[ids], matrix.size(0))


@Perturbation.register("word_interpretable")
class WordInterpretable(Perturbation):
    """
    Word iAT (Sato et al. 2018): the perturbation of word t is restricted to the span of unit
    directions towards other words, r_t = Σ_k α_{t,k} d̃_{t,k} with d̃_{t,k} = (w_k − w_t)/‖w_k − w_t‖,
    and α = ε·g/‖g‖₂, g_{t,k} = (∂L/∂e_t)·d̃_{t,k} (the linearised worst case under ‖α‖ ≤ ε).

    Neighbour set: the K nearest words of w_t in the embedding matrix rather than the whole
    vocabulary. Sato et al. also restrict the directions to nearest neighbours, because with all V
    words each step costs O(T·V·D) memory and time and the far words' directions add little. Their
    released code (online_nn=0, its default) searches the neighbours once, from the embeddings
    training starts with, and keeps them; so do we by default: the table of the whole vocabulary is
    computed at the first call, and the directions d̃ always use the current embeddings. Set
    `neighbour_refresh` to search again once the table is that many calls old. The sets do drift
    (`benchmarks/neighbour_drift.py`: on SST 86 % of a word's 15 neighbours are still among them
    100 steps later, 56 % after 1,000), but a search is a V × V × D product, 2.6 s for SST's 13.7k
    words on one CPU core, the time of ~25 vanilla steps. The table is not checkpointed; a
    recovered run searches the embeddings it resumes with.

    Each step gathers the neighbours' rows once, (batch, T, K, D), and reads them three times
    (g·w_k, w_t·w_k and Σ_k c_{t,k} w_k), expanding ‖w_k − w_t‖² = ‖w_k‖² − 2 w_t·w_k + ‖w_t‖²
    instead of materialising the differences. A neighbour whose vector coincides with w_t (spaCy
    shares vectors between words) gives no direction and is left out; so is one closer than the
    expansion's rounding can tell apart (‖w_k − w_t‖² ≤ 1e-5 (‖w_k‖² + ‖w_t‖²)).

    # Parameters

    epsilon : `float`, optional (default = `15.0`, the paper's setting)
    num_neighbours : `int`, optional (default = `15`)
    neighbour_refresh : `int`, optional (default = `None`: search once)
    """

    target = EMBEDDING
    needs_embedding_matrix = True

    def __init__(
        self, epsilon: float = 15.0, num_neighbours: int = 15, neighbour_refresh: Optional[int] = None
    ) -> None:
        super().__init__(epsilon)
        if num_neighbours < 1:
            raise ConfigurationError(f"model.perturbation.num_neighbours must be >= 1, got {num_neighbours}")
        if neighbour_refresh is not None and neighbour_refresh < 1:
            raise ConfigurationError(f"model.perturbation.neighbour_refresh must be >= 1, got {neighbour_refresh}")
        self.num_neighbours = num_neighbours
        self.neighbour_refresh = neighbour_refresh
        self._neighbours: Optional[torch.LongTensor] = None  # (V, K) neighbour ids of every word
        self._calls_since_search = 0

    def neighbours(self, token_ids: torch.LongTensor, embedding_matrix) -> torch.LongTensor:
        """(batch, T, K) neighbour ids, from the table while it is fresh enough (see class
        docstring). `embedding_matrix`: the (V, D) matrix or its `EmbeddingRows`."""
        rows = EmbeddingRows.of(embedding_matrix)
        table = self._neighbours
        if (
            table is None
            or table.size(0) != rows.size
            or table.device != token_ids.device
            or (self.neighbour_refresh is not None and self._calls_since_search >= self.neighbour_refresh)
        ):
            every_word = torch.arange(rows.size, device=token_ids.device)
            table = self._neighbours = nearest_neighbours(every_word, rows.lookup(None), self.num_neighbours)
            self._calls_since_search = 0
        self._calls_since_search += 1
        return table[token_ids]

    def __call__(self, values, gradient, mask, *, token_ids=None, embedding_matrix=None, **context):
        if token_ids is None or embedding_matrix is None:
            raise ValueError("word_interpretable needs the token ids and the embedding matrix")
        rows, values = EmbeddingRows.of(embedding_matrix), values.detach()
        needed, where = self.neighbours(token_ids, rows).unique(return_inverse=True)
        needed_rows = rows.lookup(needed).detach()
        # (batch, T, K, D), the one tensor of that size; index_select is ~3x faster than indexing.
        neighbour_rows = needed_rows.index_select(0, where.flatten()).view(*where.shape, -1)
        neighbour_squared_norms = (needed_rows * needed_rows).sum(-1)[where]

        def dot_with_neighbours(vectors):  # (batch, T, D) -> (batch, T, K)
            # This operand order runs as (1 × D)·(D × K) products, ~3x faster than "btkd,btd->btk".
            return torch.einsum("btd,btkd->btk", vectors, neighbour_rows)

        word_squared_norms = (values * values).sum(-1, keepdim=True)
        squared_distances = neighbour_squared_norms - 2 * dot_with_neighbours(values) + word_squared_norms
        # Below this the difference is rounding error of the expansion: the vectors coincide.
        distinct = squared_distances > 1e-5 * (neighbour_squared_norms + word_squared_norms)
        inverse_norms = squared_distances.clamp_min(1e-30).rsqrt() * distinct
        word_gradient = (gradient * values).sum(-1, keepdim=True)
        alpha_gradient = (dot_with_neighbours(gradient) - word_gradient) * inverse_norms  # g·d̃_{t,k}
        alpha = self.epsilon * per_instance_unit(alpha_gradient, mask)
        weights = alpha * inverse_norms  # r_t = Σ_k weights_{t,k} (w_k − w_t)
        delta = torch.einsum("btk,btkd->btd", weights, neighbour_rows) - weights.sum(-1, keepdim=True) * values
        return delta * mask.unsqueeze(-1)
