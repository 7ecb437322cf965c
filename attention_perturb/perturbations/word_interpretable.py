import torch
from allennlp.common.checks import ConfigurationError

from attention_perturb.perturbations.base import EMBEDDING, Perturbation, per_instance_unit


def nearest_neighbours(
    token_ids: torch.LongTensor, embedding_matrix: torch.Tensor, num_neighbours: int, padding_index: int = 0
) -> torch.LongTensor:
    """
    The `num_neighbours` nearest vocabulary words (Euclidean, in the current embedding space) of
    each token, (batch, T, K); the word itself and padding are excluded. Computed once per distinct
    word of the batch.
    """
    unique_ids, inverse = token_ids.unique(return_inverse=True)
    queries = embedding_matrix[unique_ids]
    distances = torch.cdist(queries, embedding_matrix, compute_mode="use_mm_for_euclid_dist")
    distances[:, padding_index] = float("inf")
    distances[torch.arange(len(unique_ids), device=distances.device), unique_ids] = float("inf")
    k = min(num_neighbours, embedding_matrix.size(0) - 2)
    return distances.topk(k, dim=1, largest=False).indices[inverse]


@Perturbation.register("word_interpretable")
class WordInterpretable(Perturbation):
    """
    Word iAT (Sato et al. 2018): the perturbation of word t is restricted to the span of unit
    directions towards other words, r_t = Σ_k α_{t,k} d̃_{t,k} with d̃_{t,k} = (w_k − w_t)/‖w_k − w_t‖,
    and α = ε·g/‖g‖₂, g_{t,k} = (∂L/∂e_t)·d̃_{t,k} (the linearised worst case under ‖α‖ ≤ ε).

    Neighbour set: the K nearest words of w_t in the current embedding matrix rather than the whole
    vocabulary. Sato et al. also restrict the directions to nearest neighbours, because with all V
    words each step costs O(T·V·D) memory and time and the far words' directions add little; K = 15
    keeps the cost at one (distinct words × V) distance matrix per batch.

    # Parameters

    epsilon : `float`, optional (default = `15.0`, the paper's setting)
    num_neighbours : `int`, optional (default = `15`)
    """

    target = EMBEDDING

    def __init__(self, epsilon: float = 15.0, num_neighbours: int = 15) -> None:
        super().__init__(epsilon)
        if num_neighbours < 1:
            raise ConfigurationError(f"model.perturbation.num_neighbours must be >= 1, got {num_neighbours}")
        self.num_neighbours = num_neighbours

    def __call__(self, values, gradient, mask, *, token_ids=None, embedding_matrix=None, **context):
        if token_ids is None or embedding_matrix is None:
            raise ValueError("word_interpretable needs the token ids and the embedding matrix")
        embedding_matrix = embedding_matrix.detach()
        neighbours = nearest_neighbours(token_ids, embedding_matrix, self.num_neighbours)
        directions = embedding_matrix[neighbours] - values.unsqueeze(2)
        directions = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        alpha_gradient = (gradient.unsqueeze(2) * directions).sum(-1)
        alpha = self.epsilon * per_instance_unit(alpha_gradient, mask)
        return (alpha.unsqueeze(-1) * directions).sum(2) * mask.unsqueeze(-1)
