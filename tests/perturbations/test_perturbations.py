import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from attention_perturb.perturbations import Perturbation
from attention_perturb.perturbations.attention_interpretable import normalized_score_differences
from attention_perturb.perturbations.word_interpretable import EmbeddingRows, nearest_neighbours

EPSILON = 0.7


def make_batch(seed=0):
    """Three instances of lengths 4, 2 and 1 (padded to 4), with a small attention head."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    scores = torch.randn(3, 4, generator=generator)
    states = torch.randn(3, 4, 5, generator=generator)
    decoder = torch.randn(5, generator=generator)
    labels = torch.tensor([1.0, 0.0, 1.0])
    return scores, states, decoder, labels, mask


def head_loss(scores, states, decoder, labels, mask):
    weights = torch.softmax(scores.masked_fill(~mask, -1e30), dim=-1)
    logits = (weights.unsqueeze(-1) * states).sum(1) @ decoder
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="sum")


def score_gradient(scores, states, decoder, labels, mask):
    scores = scores.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(head_loss(scores, states, decoder, labels, mask), scores)
    return gradient


def build(name, **kwargs):
    return Perturbation.from_params(Params({"type": name, **kwargs}))


def test_attention_adversarial_is_normalised_autograd_gradient():
    scores, states, decoder, labels, mask = make_batch()
    gradient = score_gradient(scores, states, decoder, labels, mask)
    delta = build("attention_adversarial", epsilon=EPSILON)(scores, gradient, mask)
    for i in range(2):  # instance 2 has one token: softmax is constant, the gradient is zero
        valid = mask[i]
        expected = EPSILON * gradient[i][valid] / gradient[i][valid].norm()
        torch.testing.assert_close(delta[i][valid], expected)
        assert delta[i].norm().item() == pytest.approx(EPSILON, rel=1e-5)
    assert torch.all(delta[~mask] == 0)
    assert torch.all(delta[2] == 0)


def test_attention_random_has_norm_epsilon_and_spares_padding():
    scores, _, _, _, mask = make_batch()
    torch.manual_seed(3)
    delta = build("attention_random", epsilon=EPSILON)(scores, None, mask)
    torch.testing.assert_close(delta.norm(dim=1), torch.full((3,), EPSILON))
    assert torch.all(delta[~mask] == 0)


def explicit_interpretable_perturbation(scores, states, decoder, labels, mask, epsilon, normalization):
    """Eq. 13-19 written out with loops, α as a leaf tensor and ∇_α L from autograd at α = 0."""
    batch, length = scores.shape
    directions = torch.zeros(batch, length, length)
    for b in range(batch):
        valid = [t for t in range(length) if mask[b, t]]
        for t in valid:
            for k in valid:
                directions[b, t, k] = scores[b, t] - scores[b, k]  # Eq. 13
        if normalization == "token":
            for t in valid:
                norm = directions[b, t].norm()
                if norm > 0:
                    directions[b, t] /= norm  # Eq. 14
        else:
            norm = directions[b].norm()
            if norm > 0:
                directions[b] /= norm
    alpha = torch.zeros(batch, length, length, requires_grad=True)
    perturbation = torch.stack(
        [torch.stack([alpha[b, t] @ directions[b, t] for t in range(length)]) for b in range(batch)]
    )  # Eq. 15-16
    loss = head_loss(scores + perturbation, states, decoder, labels, mask)
    (gradient,) = torch.autograd.grad(loss, alpha)  # Eq. 18
    result = torch.zeros(batch, length)
    for b in range(batch):
        norm = gradient[b].norm()
        if norm == 0:
            continue
        alpha_b = epsilon * gradient[b] / norm
        for t in range(length):
            if mask[b, t]:
                result[b, t] = alpha_b[t] @ directions[b, t]  # Eq. 19: r_iAT
    return result


@pytest.mark.parametrize("normalization", ["sentence", "token"])
def test_attention_interpretable_matches_explicit_loops(normalization):
    scores, states, decoder, labels, mask = make_batch(seed=1)
    gradient = score_gradient(scores, states, decoder, labels, mask)
    perturbation = build("attention_interpretable", epsilon=EPSILON, normalization=normalization)
    delta = perturbation(scores, gradient, mask)
    expected = explicit_interpretable_perturbation(scores, states, decoder, labels, mask, EPSILON, normalization)
    torch.testing.assert_close(delta, expected)
    assert torch.all(delta[~mask] == 0)


def test_token_normalisation_collapses_to_attention_at():
    """g_{t,k} = (∂L/∂ã_t)·d̃_{t,k} and Σ_k d̃²_{t,k} = 1 give r_t = ε·(∂L/∂ã_t)/‖∇_ã L‖ = r_AT."""
    scores, states, decoder, labels, mask = make_batch(seed=2)
    gradient = score_gradient(scores, states, decoder, labels, mask)
    token = build("attention_interpretable", epsilon=EPSILON, normalization="token")(scores, gradient, mask)
    adversarial = build("attention_adversarial", epsilon=EPSILON)(scores, gradient, mask)
    torch.testing.assert_close(token, adversarial)


def test_sentence_normalisation_scales_steps_by_squared_difference_norm():
    """With d̃ = d/‖d‖_F: r_t = ε·G_t·‖d_t‖² / (‖d‖_F·sqrt(Σ_s G_s²‖d_s‖²)), G = ∇_ã L."""
    scores, states, decoder, labels, mask = make_batch(seed=4)
    gradient = score_gradient(scores, states, decoder, labels, mask)
    delta = build("attention_interpretable", epsilon=EPSILON)(scores, gradient, mask)
    differences = scores[0].unsqueeze(1) - scores[0].unsqueeze(0)
    row_norms = differences.norm(dim=1) ** 2
    expected = EPSILON * gradient[0] * row_norms / (
        differences.norm() * (gradient[0] ** 2 * row_norms).sum().sqrt()
    )
    torch.testing.assert_close(delta[0], expected)
    assert not torch.allclose(delta[0], EPSILON * gradient[0] / gradient[0].norm())
    torch.testing.assert_close(
        normalized_score_differences(scores, mask, "sentence")[0], differences / differences.norm()
    )


@pytest.mark.parametrize(
    "name", ["attention_adversarial", "attention_interpretable", "word_adversarial", "word_interpretable"]
)
def test_zero_gradient_gives_zero_perturbation(name):
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
    if name.startswith("attention"):
        values = torch.tensor([[0.5, 0.5, 0.0], [1.0, 2.0, 3.0]])
    else:
        values = torch.randn(2, 3, 4)
    context = {"token_ids": torch.tensor([[2, 3, 0], [4, 5, 6]]), "embedding_matrix": torch.randn(8, 4)}
    if name.startswith("word"):
        values = context["embedding_matrix"][context["token_ids"]]
    delta = build(name)(values, torch.zeros_like(values), mask, **context)
    assert torch.all(delta == 0) and not torch.isnan(delta).any()


def test_word_adversarial_is_normalised_gradient_over_valid_positions():
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    gradient = torch.randn(2, 3, 4)
    delta = build("word_adversarial", epsilon=EPSILON)(torch.randn(2, 3, 4), gradient, mask)
    expected = EPSILON * gradient[1, :2] / gradient[1, :2].norm()
    torch.testing.assert_close(delta[1, :2], expected)
    assert torch.all(delta[1, 2] == 0)
    torch.testing.assert_close(delta.flatten(1).norm(dim=1), torch.full((2,), EPSILON))


def explicit_word_iat(matrix, token_ids, gradient, k):
    """Eq. of Sato et al. with loops: K nearest words by Euclidean distance, unit directions,
    α = ε·g/‖g‖ over the instance; a neighbour at distance 0, or closer than float32 rounding of
    the norm expansion can resolve (‖w_k − w_t‖² ≤ 1e-5 (‖w_k‖² + ‖w_t‖²)), gives no direction."""
    mask = token_ids != 0
    expected = torch.zeros(*token_ids.shape, matrix.size(1))
    for b in range(token_ids.size(0)):
        alphas, directions = {}, {}
        for t in range(token_ids.size(1)):
            if not mask[b, t]:
                continue
            word = token_ids[b, t].item()
            distances = sorted(
                ((matrix[j] - matrix[word]).norm().item(), j) for j in range(1, len(matrix)) if j != word
            )
            for distance, j in distances[:k]:
                if distance**2 <= 1e-5 * (matrix[j].norm().item() ** 2 + matrix[word].norm().item() ** 2):
                    continue
                direction = matrix[j] - matrix[word]
                directions[t, j] = direction / direction.norm()
                alphas[t, j] = gradient[b, t] @ directions[t, j]
        norm = math.sqrt(sum(a.item() ** 2 for a in alphas.values()))
        for (t, j), a in alphas.items():
            expected[b, t] += EPSILON * a / norm * directions[t, j]
    return expected


def test_word_interpretable_matches_explicit_neighbour_loops():
    generator = torch.Generator().manual_seed(5)
    matrix = torch.randn(12, 4, generator=generator)
    token_ids = torch.tensor([[3, 7, 3], [5, 2, 0]])
    gradient = torch.randn(2, 3, 4, generator=generator)
    k = 3
    delta = build("word_interpretable", epsilon=EPSILON, num_neighbours=k)(
        matrix[token_ids], gradient, token_ids != 0, token_ids=token_ids, embedding_matrix=matrix
    )
    torch.testing.assert_close(delta, explicit_word_iat(matrix, token_ids, gradient, k))
    neighbours = nearest_neighbours(token_ids, matrix, k)
    assert not (neighbours == token_ids.unsqueeze(-1)).any() and not (neighbours == 0).any()


def test_word_interpretable_drops_neighbours_with_the_same_vector():
    """spaCy maps many words to one vector: such a neighbour has no direction, and must not turn
    the rounding error of ‖w_k‖² − 2w_t·w_k + ‖w_t‖² into one."""
    generator = torch.Generator().manual_seed(9)
    matrix = 3 * torch.randn(12, 300, generator=generator)
    matrix[4] = matrix[3]
    # A near twin, 0.14 away from words ~73 apart: ‖w_9 − w_7‖² = 0.02, under the guard's
    # 1e-5 (‖w_9‖² + ‖w_7‖²) ≈ 0.054 but well above the expansion's rounding, so that without the
    # guard it would be taken as a direction.
    offset = torch.randn(300, generator=generator)
    matrix[9] = matrix[7] + offset / offset.norm() * 0.02**0.5
    assert 0.01 < (matrix[9] - matrix[7]).norm() ** 2 < 1e-5 * (matrix[9].norm() ** 2 + matrix[7].norm() ** 2)
    token_ids = torch.tensor([[3, 7, 5], [4, 2, 9]])
    gradient = torch.randn(2, 3, 300, generator=generator)
    perturbation = build("word_interpretable", epsilon=EPSILON, num_neighbours=3)
    delta = perturbation(matrix[token_ids], gradient, token_ids != 0, token_ids=token_ids, embedding_matrix=matrix)
    neighbours = perturbation.neighbours(token_ids, matrix)
    assert (neighbours[0, 0] == 4).any() and (neighbours[0, 1] == 9).any() and (neighbours[1, 2] == 7).any()  # twins among the K
    assert torch.isfinite(delta).all()
    torch.testing.assert_close(delta, explicit_word_iat(matrix, token_ids, gradient, 3), rtol=1e-4, atol=1e-4)


def test_word_interpretable_reuses_neighbours_until_they_are_stale():
    generator = torch.Generator().manual_seed(6)
    matrix = torch.randn(10, 4, generator=generator)
    token_ids = torch.tensor([[2, 5]])
    perturbation = build("word_interpretable", num_neighbours=2, neighbour_refresh=2)
    first = perturbation.neighbours(token_ids, matrix)
    torch.testing.assert_close(first, nearest_neighbours(token_ids, matrix, 2))
    moved = matrix.clone()
    moved[first[0, 0, 0]] += 100.0  # word 2's nearest neighbour moves far away
    assert torch.equal(perturbation.neighbours(token_ids, moved), first)  # one call old: cached
    refreshed = perturbation.neighbours(token_ids, moved)  # two calls old: recomputed
    torch.testing.assert_close(refreshed, nearest_neighbours(token_ids, moved, 2))
    assert not torch.equal(refreshed, first)


def test_word_interpretable_searches_neighbours_once_by_default():
    generator = torch.Generator().manual_seed(6)
    matrix = torch.randn(10, 4, generator=generator)
    token_ids = torch.tensor([[2, 5]])
    perturbation = build("word_interpretable", num_neighbours=2)
    first = perturbation.neighbours(token_ids, matrix)
    moved = matrix.clone()
    moved[first[0, 0, 0]] += 100.0
    for _ in range(1000):
        assert torch.equal(perturbation.neighbours(token_ids, moved), first)
    assert not torch.equal(nearest_neighbours(token_ids, moved, 2), first)


def test_word_interpretable_computes_only_the_rows_it_needs():
    """Given rows on demand, Word iAT asks for the whole matrix only to search neighbours, and
    otherwise for the distinct neighbours' rows; δ is the same as with the matrix itself."""
    generator = torch.Generator().manual_seed(8)
    matrix = torch.randn(12, 4, generator=generator)
    token_ids = torch.tensor([[2, 5, 0], [7, 2, 3]])
    mask = token_ids != 0
    values, gradient = matrix[token_ids], torch.randn(2, 3, 4, generator=generator)
    requests = []

    def lookup(ids):
        requests.append(None if ids is None else tuple(ids.shape))
        return matrix if ids is None else matrix[ids]

    on_demand = build("word_interpretable", num_neighbours=3, neighbour_refresh=5)
    whole = build("word_interpretable", num_neighbours=3, neighbour_refresh=5)
    for call in range(2):
        delta = on_demand(values, gradient, mask, token_ids=token_ids, embedding_matrix=EmbeddingRows(lookup, 12))
        torch.testing.assert_close(delta, whole(values, gradient, mask, token_ids=token_ids, embedding_matrix=matrix))
    # First call: one neighbour search (all rows), then each call gathers each neighbour's row once.
    distinct = nearest_neighbours(token_ids, matrix, 3).unique().numel()
    assert distinct < token_ids.numel() * 3
    assert requests == [None, (distinct,), (distinct,)]


def test_adversarial_direction_raises_loss_more_than_random():
    """First-order check: for small ε the AT step increases the loss more than random steps of the
    same norm, on average over a batch."""
    torch.manual_seed(0)
    batch, length = 64, 6
    mask = torch.ones(batch, length, dtype=torch.bool)
    mask[::3, 4:] = False
    scores, states = torch.randn(batch, length), torch.randn(batch, length, 5)
    decoder, labels = torch.randn(5), torch.randint(0, 2, (batch,)).float()

    def per_instance_loss(s):
        weights = torch.softmax(s.masked_fill(~mask, -1e30), dim=-1)
        logits = (weights.unsqueeze(-1) * states).sum(1) @ decoder
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")

    gradient = score_gradient(scores, states, decoder, labels, mask)
    clean = per_instance_loss(scores)
    epsilon = 1e-2
    increases = {}
    for name in ["attention_adversarial", "attention_interpretable", "attention_random"]:
        delta = build(name, epsilon=epsilon)(scores, gradient, mask)
        increases[name] = (per_instance_loss(scores + delta) - clean).mean().item()
    assert increases["attention_adversarial"] > 0
    assert increases["attention_interpretable"] > 0
    assert increases["attention_adversarial"] > 10 * abs(increases["attention_random"])


@pytest.mark.parametrize("epsilon", [-1.0, float("nan"), float("inf")])
def test_invalid_epsilon_names_the_config_key(epsilon):
    with pytest.raises(ConfigurationError, match="model.perturbation.epsilon"):
        build("attention_adversarial", epsilon=epsilon)


def test_unknown_perturbation_and_normalisation_are_configuration_errors():
    with pytest.raises(ConfigurationError, match="no_such_method"):
        build("no_such_method")
    with pytest.raises(ConfigurationError, match="model.perturbation.normalization"):
        build("attention_interpretable", normalization="row")
    with pytest.raises(ConfigurationError, match="model.perturbation.neighbour_refresh"):
        build("word_interpretable", neighbour_refresh=0)


def test_released_code_iat_step_is_minus_r_at_and_lowers_the_loss():
    scores, states, decoder, labels, mask = make_batch()
    gradient = score_gradient(scores, states, decoder, labels, mask)
    delta = build("attention_loss_decreasing", epsilon=EPSILON)(scores, gradient, mask)
    for i in range(2):
        valid = mask[i]
        torch.testing.assert_close(delta[i][valid], -EPSILON * gradient[i][valid] / gradient[i][valid].norm())
    assert torch.all(delta[~mask] == 0) and torch.all(delta[2] == 0)
    small = build("attention_loss_decreasing", epsilon=1e-3)(scores, gradient, mask)
    assert head_loss(scores + small, states, decoder, labels, mask) < head_loss(scores, states, decoder, labels, mask)


def test_each_perturbation_s_own_defaults_are_the_shipped_method_blocks():
    """A config naming only `type` trains with what training_configs/lib/methods.libsonnet
    documents as the paper's settings (ε, K, normalisation)."""
    import json

    import _jsonnet

    registry = json.loads(_jsonnet.evaluate_file("training_configs/lib/methods.libsonnet"))["registry"]
    blocks = {entry["name"]: entry["perturbation"] for entry in registry if "perturbation" in entry}
    assert set(blocks) == {"vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat"}
    for method, block in blocks.items():
        bare, full = build(block["type"]), Perturbation.from_params(Params(block))
        assert vars(bare) == vars(full), method
    assert build("none").epsilon == 0.0


def test_no_perturbation_is_zero_of_the_values_shape():
    scores, _, _, _, mask = make_batch()
    delta = build("none")(scores, None, mask)
    assert delta.shape == scores.shape and not delta.any()


def test_invalid_epsilon_message_is_the_key_then_the_value():
    with pytest.raises(ConfigurationError) as error:
        build("attention_random", epsilon=-2.0)
    assert error.value.message == "model.perturbation.epsilon must be a finite number >= 0, got -2.0"


def test_word_interpretable_bounds_of_its_settings():
    assert build("word_interpretable", num_neighbours=1, neighbour_refresh=1).num_neighbours == 1
    with pytest.raises(ConfigurationError) as error:
        build("word_interpretable", num_neighbours=0)
    assert error.value.message == "model.perturbation.num_neighbours must be >= 1, got 0"
    with pytest.raises(ConfigurationError) as error:
        build("word_interpretable", neighbour_refresh=0)
    assert error.value.message == "model.perturbation.neighbour_refresh must be >= 1, got 0"


@pytest.mark.parametrize("missing", ["token_ids", "embedding_matrix"])
def test_word_interpretable_without_ids_or_matrix_says_what_it_needs(missing):
    matrix = torch.randn(6, 4)
    token_ids = torch.tensor([[1, 2]])
    context = {"token_ids": token_ids, "embedding_matrix": matrix}
    del context[missing]
    with pytest.raises(ValueError) as error:
        build("word_interpretable")(matrix[token_ids], torch.randn(1, 2, 4), token_ids != 0, **context)
    assert str(error.value) == "word_interpretable needs the token ids and the embedding matrix"


def test_word_interpretable_with_fewer_words_than_k_takes_every_other_word():
    """V − 2 candidates (not padding, not the word itself) when K exceeds them."""
    generator = torch.Generator().manual_seed(11)
    matrix = torch.randn(6, 4, generator=generator)
    token_ids = torch.tensor([[1, 4, 5]])
    neighbours = nearest_neighbours(token_ids, matrix, 15)
    assert neighbours.shape == (1, 3, 4)
    for t, word in enumerate(token_ids[0].tolist()):
        assert sorted(neighbours[0, t].tolist()) == [j for j in range(1, 6) if j != word]
    gradient = torch.randn(1, 3, 4, generator=generator)
    delta = build("word_interpretable", epsilon=EPSILON)(matrix[token_ids], gradient, token_ids != 0,
                                                         token_ids=token_ids, embedding_matrix=matrix)
    torch.testing.assert_close(delta, explicit_word_iat(matrix, token_ids, gradient, 15))


def test_word_interpretable_directions_are_unit_for_words_closer_than_one():
    """Embeddings at a small scale (‖w_k − w_t‖ < 1): the directions are still unit vectors."""
    generator = torch.Generator().manual_seed(12)
    matrix = 0.01 * torch.randn(12, 4, generator=generator)
    token_ids = torch.tensor([[3, 7, 3], [5, 2, 0]])
    gradient = torch.randn(2, 3, 4, generator=generator)
    delta = build("word_interpretable", epsilon=EPSILON, num_neighbours=3)(
        matrix[token_ids], gradient, token_ids != 0, token_ids=token_ids, embedding_matrix=matrix
    )
    torch.testing.assert_close(delta, explicit_word_iat(matrix, token_ids, gradient, 3), rtol=1e-4, atol=1e-5)


def test_word_interpretable_searches_again_for_a_grown_vocabulary():
    """A table of 8 words cannot serve a vocabulary of 10 (e.g. extended for fine-tuning)."""
    generator = torch.Generator().manual_seed(13)
    matrix = torch.randn(10, 4, generator=generator)
    perturbation = build("word_interpretable", num_neighbours=2)
    perturbation.neighbours(torch.tensor([[2, 5]]), matrix[:8])
    token_ids = torch.tensor([[9, 2]])
    torch.testing.assert_close(perturbation.neighbours(token_ids, matrix), nearest_neighbours(token_ids, matrix, 2))
