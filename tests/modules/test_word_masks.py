"""FLAT's variational word masks (Chen & Ji 2020; FLAT Eq. 4): the inference network, φ, the
Gumbel-softmax samples in training and φ itself in inference, each against plain torch."""
import pytest
import torch

from attention_perturb.modules.word_masks import VariationalWordMask

MASK = torch.tensor([[True, True, True], [True, True, False]])


def embeddings() -> torch.Tensor:
    return torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0))


def by_hand_logits(masks: VariationalWordMask, values: torch.Tensor) -> torch.Tensor:
    hidden, output = masks.hidden, masks.output
    return torch.tanh(values @ hidden.weight.T + hidden.bias) @ output.weight.T + output.bias


def test_the_authors_defaults_400_hidden_units_tau_1_binary_samples():
    masks = VariationalWordMask(embedding_dim=4)
    assert (masks.hidden.in_features, masks.hidden.out_features) == (4, 400)
    assert (masks.output.in_features, masks.output.out_features) == (400, 2)
    assert masks.temperature == 1.0 and masks.hard is True


def test_logits_are_a_one_hidden_layer_tanh_network():
    torch.manual_seed(1)
    masks, values = VariationalWordMask(4, hidden_dim=5), embeddings()
    torch.testing.assert_close(masks.logits(values), by_hand_logits(masks, values))


def test_in_inference_the_embeddings_are_gated_by_phi():
    torch.manual_seed(1)
    masks, values = VariationalWordMask(4, hidden_dim=5).eval(), embeddings()
    gated, importance = masks(values, MASK)
    phi = torch.softmax(by_hand_logits(masks, values), dim=-1)[..., 1] * MASK
    torch.testing.assert_close(importance, phi)
    torch.testing.assert_close(gated, values * phi.unsqueeze(-1))
    assert importance[1, 2] == 0 and torch.all(gated[1, 2] == 0)
    assert torch.all((phi[MASK] > 0) & (phi[MASK] < 1))


@pytest.mark.parametrize("temperature, hard", [(1.0, True), (0.3, False), (3.0, False)])
def test_in_training_the_embeddings_are_gated_by_a_gumbel_softmax_sample(temperature, hard):
    torch.manual_seed(1)
    masks, values = VariationalWordMask(4, hidden_dim=5, temperature=temperature, hard=hard).train(), embeddings()
    torch.manual_seed(5)
    gated, importance = masks(values, MASK)
    torch.manual_seed(5)
    logits = by_hand_logits(masks, values)
    sample = torch.nn.functional.gumbel_softmax(logits, tau=temperature, hard=hard)[..., 1] * MASK
    torch.testing.assert_close(gated, values * sample.unsqueeze(-1))
    torch.testing.assert_close(importance, torch.softmax(logits, dim=-1)[..., 1] * MASK)
    assert torch.all(gated[1, 2] == 0)
    if hard:  # straight-through: each word whole or not at all
        assert set(sample.unique().tolist()) <= {0.0, 1.0}
    else:
        assert torch.all((sample[MASK] > 0) & (sample[MASK] < 1))


def test_the_hard_samples_gradient_is_the_relaxed_samples():
    torch.manual_seed(1)
    masks = VariationalWordMask(4, hidden_dim=5).train()
    values = embeddings()
    torch.manual_seed(6)
    masks(values, MASK)[0].sum().backward()
    assert masks.hidden.weight.grad is not None and masks.hidden.weight.grad.abs().sum() > 0
