"""The score attentions' settings beyond Eq. 2 and 7 (tests/modules/test_modules.py): the defaults a
config leaves out, scaled dot-product scores with an external query, and allennlp's `Attention`
interface passing the query through."""
import math

import pytest
import torch
from allennlp.common import Params

from attention_perturb.modules.attention import ScoreAttention, masked_attention_weights


def build(**settings) -> ScoreAttention:
    return ScoreAttention.from_params(Params(settings))


def test_additive_attention_defaults_to_a_128_unit_projection():
    # Jain & Wallace's (and the paper's) additive attention: d' = 128.
    attention = build(type="additive", input_dim=4)
    assert attention.state_projection.out_features == 128 and attention.context.in_features == 128


def test_additive_attention_through_allennlps_interface_is_the_masked_softmax_of_eq7():
    torch.manual_seed(2)
    attention = build(type="additive", input_dim=4, hidden_dim=6, query_dim=5)
    states, query = torch.randn(2, 3, 4), torch.randn(2, 5)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    weights = attention(query, states, mask)
    torch.testing.assert_close(weights, masked_attention_weights(attention.scores(states, query), mask))
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    assert weights[0, 2] == 0


def test_a_missing_query_is_refused_by_each_attention_in_one_sentence():
    states = torch.randn(1, 3, 4)
    for kind in ("additive", "scaled_dot"):
        with pytest.raises(ValueError, match=f"^this {kind} attention was built with query_dim and needs a query$"):
            build(type=kind, input_dim=4, query_dim=5).scores(states)


def test_scaled_dot_scores_with_a_query_project_it_to_the_states():
    torch.manual_seed(3)
    attention = build(type="scaled_dot", input_dim=4, query_dim=5)
    assert attention.learned_query is None
    projection = attention.query_projection
    assert (projection.in_features, projection.out_features) == (5, 4)
    states, query = torch.randn(2, 3, 4), torch.randn(2, 5)
    projected = query @ projection.weight.T + projection.bias
    expected = torch.einsum("btd,bd->bt", states, projected) / 2.0  # √m = √4
    torch.testing.assert_close(attention.scores(states, query), expected)


def test_scaled_dot_learned_query_starts_at_the_scale_of_one_score():
    # q ~ N(0, 1/m), so that qᵀh/√m starts near zero, not √m times larger.
    torch.manual_seed(4)
    attention = build(type="scaled_dot", input_dim=400)
    assert attention.query_projection is None
    assert attention.learned_query.std().item() == pytest.approx(1 / math.sqrt(400), rel=0.15)
