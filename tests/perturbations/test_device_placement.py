"""Every perturbation keeps its tensors on the device of its inputs: δ on "meta" (CPU data behind
it; tests/devices.py) and, where CUDA is available, on "cuda" equals the CPU's."""
import pytest
import torch
from allennlp.common import Params

from attention_perturb.perturbations import Perturbation
from attention_perturb.perturbations.base import EMBEDDING
from attention_perturb.perturbations.word_interpretable import nearest_neighbours
from tests.devices import device, placed_on  # noqa: F401

DETERMINISTIC = ["none", "attention_adversarial", "attention_interpretable", "attention_loss_decreasing",
                 "word_adversarial", "word_interpretable"]
VOCABULARY, DIMENSION = 12, 5


def inputs(target):
    """Values (attention scores, or word embeddings with the ids and matrix they come from), a
    gradient and the mask of three instances of lengths 4, 2 and 1."""
    generator = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    if target != EMBEDDING:
        return torch.randn(3, 4, generator=generator), torch.randn(3, 4, generator=generator), mask, {}
    matrix = torch.randn(VOCABULARY, DIMENSION, generator=generator)
    token_ids = torch.randint(1, VOCABULARY, (3, 4), generator=generator) * mask
    gradient = torch.randn(3, 4, DIMENSION, generator=generator)
    return matrix[token_ids], gradient, mask, {"token_ids": token_ids, "embedding_matrix": matrix}


def build(name):
    settings = {"num_neighbours": 3} if name == "word_interpretable" else {}
    return Perturbation.from_params(Params({"type": name, **settings}))


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_each_perturbation_runs_on_its_inputs_device(device, name):
    perturbation = build(name)
    values, gradient, mask, context = inputs(perturbation.target)
    expected = build(name)(values, gradient, mask, **context)
    with placed_on(device) as placed:
        moved = {key: value.to(placed) for key, value in context.items()}
        delta = perturbation(values.to(placed), gradient.to(placed), mask.to(placed), **moved)
        assert delta.device.type == device
        torch.testing.assert_close(delta.cpu(), expected)
    assert name == "none" or expected.abs().sum() > 0


def test_attention_random_draws_on_its_inputs_device(device):
    values, _, mask, _ = inputs("attention")
    with placed_on(device) as placed:
        delta = build("attention_random")(values.to(placed), None, mask.to(placed))
        assert delta.device.type == device
        delta = delta.cpu()
    torch.testing.assert_close(delta.norm(dim=1), torch.full((3,), 1.0))
    assert torch.all(delta[~mask] == 0)


def test_word_interpretable_searches_its_neighbour_table_on_the_ids_device(device):
    """The table of every word's neighbours, built at the first call, is built again when the ids
    come on another device, and on theirs."""
    values, gradient, mask, context = inputs(EMBEDDING)
    perturbation = build("word_interpretable")
    on_cpu = perturbation(values, gradient, mask, **context)
    table = perturbation._neighbours
    with placed_on(device) as placed:
        moved = {key: value.to(placed) for key, value in context.items()}
        delta = perturbation(values.to(placed), gradient.to(placed), mask.to(placed), **moved)
        assert perturbation._neighbours.device.type == device
        torch.testing.assert_close(perturbation._neighbours.cpu(), table)
        torch.testing.assert_close(delta.cpu(), on_cpu)
        neighbours = nearest_neighbours(moved["token_ids"], moved["embedding_matrix"], 3)
        assert neighbours.device.type == device
        torch.testing.assert_close(neighbours.cpu(), nearest_neighbours(context["token_ids"], context["embedding_matrix"], 3))
