"""`torch_adam`: allennlp's `adam` with torch's implementation chosen, checked against torch's own
Adam step by step."""
import re

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.optimizers import Optimizer

from attention_perturb.training.optimizers import TorchAdamOptimizer


def named_parameters(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [("encoder.weight", torch.nn.Parameter(torch.randn(4, 3, generator=generator))),
            ("decoder.bias", torch.nn.Parameter(torch.randn(3, generator=generator)))]


def run_steps(optimizer, parameters, steps=4):
    generator = torch.Generator().manual_seed(1)
    targets = [torch.randn(p.shape, generator=generator) for _, p in parameters]
    for _ in range(steps):
        optimizer.zero_grad()
        sum(((p - t) ** 3).sum() for (_, p), t in zip(parameters, targets)).backward()
        optimizer.step()
    return [p.detach().clone() for _, p in parameters]


@pytest.mark.parametrize("implementation", ["fused", "foreach", "single_tensor"])
@pytest.mark.parametrize("settings", [{}, {"lr": 0.05, "betas": (0.8, 0.9), "eps": 1e-3, "weight_decay": 0.1, "amsgrad": True}])
def test_each_implementation_steps_as_torchs_adam(implementation, settings):
    parameters = named_parameters()
    ours = run_steps(TorchAdamOptimizer(parameters, implementation=implementation, **settings), parameters)
    reference_parameters = named_parameters()
    reference = torch.optim.Adam([p for _, p in reference_parameters], foreach=False, **settings)
    for got, expected in zip(ours, run_steps(reference, reference_parameters)):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_the_defaults_are_allennlps_adam_with_the_fused_kernel():
    optimizer = Optimizer.from_params(model_parameters=named_parameters(), params=Params({"type": "torch_adam"}))
    group = optimizer.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"], group["amsgrad"]) == (0.001, (0.9, 0.999), 1e-08, 0.0, False)
    assert group["fused"] is True and group["foreach"] is False


@pytest.mark.parametrize("implementation, fused, foreach", [("foreach", None, True), ("single_tensor", None, False)])
def test_the_implementation_chosen_is_the_one_torch_runs(implementation, fused, foreach):
    group = TorchAdamOptimizer(named_parameters(), implementation=implementation).param_groups[0]
    assert group["fused"] is fused and group["foreach"] is foreach


def test_parameter_groups_take_their_own_settings():
    optimizer = TorchAdamOptimizer(named_parameters(), parameter_groups=[(["decoder"], {"lr": 0.5})], lr=0.01)
    assert [(len(group["params"]), group["lr"]) for group in optimizer.param_groups] == [(1, 0.5), (1, 0.01)]


def test_an_unknown_implementation_is_refused_by_its_key():
    message = "trainer.optimizer.implementation: 'fast' is not one of fused, foreach, single_tensor"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        TorchAdamOptimizer(named_parameters(), implementation="fast")
