"""Every model and training method keeps its tensors on the device of its parameters: a training
step's loss and parameter gradients, and evaluation's importance and agreement, on "meta" (CPU
data behind it; tests/devices.py) and, where CUDA is available, on "cuda" equal the CPU's."""
import pytest
import torch
from allennlp.data import Batch
from allennlp.nn.util import move_to_device

from tests.conftest import METHODS
from tests.devices import device, placed_on, tiny_model  # noqa: F401

BABI = "fixtures/babi/en-10k/qa1_single-supporting-fact_train.txt"
# name: (config, environment, data); the six methods on the SST classifier, then the neighbours.
MODELS = {
    **{method: ("fixtures/sst_tiny.jsonnet", {}, None) for method in METHODS},
    "seat": ("fixtures/sst_seat_tiny.jsonnet", {"VANILLA_ARCHIVE": "set by the test"}, None),
    "seat_embedding": ("fixtures/sst_seat_embedding_tiny.jsonnet", {}, None),
    "flat": ("fixtures/sst_flat_tiny.jsonnet", {}, None),
    "bat_pairwise": ("fixtures/sst_bat_tiny.jsonnet", {"BAT_VARIANT": "pairwise"}, None),
    "bat_triplet": ("fixtures/sst_bat_tiny.jsonnet", {"BAT_VARIANT": "triplet"}, None),
    "pair_word_iat": ("fixtures/babi_tiny.jsonnet", {}, BABI),
    "pair_attention_iat": ("fixtures/babi_tiny.jsonnet", {}, BABI),
}
# Their random draws are made on the device: on CUDA they differ from the CPU's, on meta they are
# the CPU generator's, as in the CPU run.
DRAW_ON_THE_DEVICE = {"attention_rp", "bat_pairwise", "bat_triplet"}


def build(name):
    config, environment, data = MODELS[name]
    method = name[len("pair_"):] if name.startswith("pair_") else name if name in METHODS else "vanilla"
    model, instances = tiny_model(method, config, data or "fixtures/sst/train.txt", **environment)
    if name == "seat":
        model._from_vanilla.fill_(True)  # its vanilla weights are the initial ones here
    # Short instances of different lengths (padding included), so that the meta runs stay short.
    if name.startswith("pair_"):
        chosen = sorted(instances, key=lambda instance: len(instance["passage"]))[:4:2]  # 12 and 24 tokens
    else:
        chosen = [instances[index] for index in (0, 11, 34, 24)]  # 8, 6, 2 and 5 tokens
    batch = Batch(chosen)
    return model, batch.as_tensor_dict()


def training_step(model, batch, device):
    """The loss and every parameter gradient of one training step with the model and batch on
    `device`, on the CPU."""
    model.train().to(device)
    try:
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)
        loss = model(**move_to_device(batch, device))["loss"]
        assert loss.device.type == device.type
        loss.backward()
        gradients = {name: p.grad.cpu() for name, p in model.named_parameters() if p.grad is not None}
        return loss.detach().cpu(), gradients
    finally:
        model.zero_grad(set_to_none=True)
        model.get_metrics(reset=True)  # allennlp's metrics keep their sums on the device they were made on
        model.cpu()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_training_step_gives_the_cpus_loss_and_gradients_on_the_device(device, name):
    model, batch = build(name)
    expected_loss, expected_gradients = training_step(model, batch, torch.device("cpu"))
    with placed_on(device) as placed:
        loss, gradients = training_step(model, batch, placed)
    assert sorted(gradients) == sorted(expected_gradients) and expected_gradients
    if device == "cuda" and name in DRAW_ON_THE_DEVICE:
        assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in gradients.values())
        return
    torch.testing.assert_close(loss, expected_loss)
    for parameter, gradient in expected_gradients.items():
        torch.testing.assert_close(gradients[parameter], gradient, msg=parameter)


def evaluation(model, batch, device):
    """Evaluation's outputs (the gradient importance and each instance's agreement with it) and
    metrics with the model and batch on `device`, on the CPU."""
    model.eval().to(device)
    try:
        with torch.no_grad():
            output = model(**move_to_device(batch, device))
        assert output["gradient_importance"].device.type == device.type
        outputs = {key: value.cpu() for key, value in output.items() if isinstance(value, torch.Tensor)}
        return outputs, model.get_metrics(reset=True)
    finally:
        model.cpu()


@pytest.mark.parametrize("name", ["attention_iat", "pair_attention_iat"])
def test_evaluation_gives_the_cpus_importance_and_agreement_on_the_device(device, name):
    model, batch = build(name)
    expected_outputs, expected_metrics = evaluation(model, batch, torch.device("cpu"))
    with placed_on(device) as placed:
        outputs, metrics = evaluation(model, batch, placed)
    assert "attention_pearson" in outputs and sorted(outputs) == sorted(expected_outputs)
    for key, value in expected_outputs.items():
        torch.testing.assert_close(outputs[key], value, equal_nan=True, msg=key)
    assert metrics == pytest.approx(expected_metrics, nan_ok=True)
