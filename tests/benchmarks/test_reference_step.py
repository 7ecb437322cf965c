"""The plain-torch reference of benchmarks/reference_step.py computes what the package's vanilla model
computes, so their time ratio compares equal work."""
import importlib.util
import os

import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch, DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

from tests.conftest import REPO_ROOT


def load_reference_module():
    spec = importlib.util.spec_from_file_location("reference_step", REPO_ROOT / "benchmarks" / "reference_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


reference_step = load_reference_module()


def tiny_model_and_batch(normalize):
    os.environ["METHOD"] = "vanilla"
    params = Params.from_file("fixtures/sst_tiny.jsonnet")
    config = params.as_dict()
    reader = DatasetReader.from_params(Params(config["dataset_reader"]))
    instances = list(reader.read("fixtures/sst/train.txt"))
    vocab = Vocabulary.from_instances(instances)
    config["model"]["text_field_embedder"]["token_embedders"]["tokens"]["normalize"] = normalize
    torch.manual_seed(3)
    model = Model.from_params(vocab=vocab, params=Params(config["model"])).train()
    batch = Batch(instances[:9])  # lengths differ: padding and packing matter
    batch.index_instances(vocab)
    return model, batch.as_tensor_dict(), config


@pytest.mark.parametrize("normalize", [False, True])
def test_reference_loss_and_gradients_equal_the_package_models(normalize):
    model, batch, _ = tiny_model_and_batch(normalize)
    reference = reference_step.reference_for(model)
    inputs = reference_step.reference_inputs(model, batch)
    assert inputs["token_ids"].eq(0).any()  # the batch is padded
    package_loss = model(**batch)["loss"]
    reference_loss = reference(**inputs)
    torch.testing.assert_close(reference_loss, package_loss, rtol=1e-6, atol=1e-7)
    package_loss.backward()
    reference_loss.backward()
    (embedder,) = model._text_field_embedder._token_embedders.values()
    pairs = [
        (reference.embedding.weight, embedder.weight),
        (reference.lstm.weight_hh_l0_reverse, model._encoder._module.weight_hh_l0_reverse),
        (reference.projection.weight, model._attention.state_projection.weight),
        (reference.decoder.bias, model._decoder.bias),
    ]
    for reference_parameter, package_parameter in pairs:
        torch.testing.assert_close(reference_parameter.grad, package_parameter.grad, rtol=1e-5, atol=1e-7)
    # A wrong target (labels flipped) must not pass: the comparison is sensitive.
    flipped = {**inputs, "target": 1 - inputs["target"]}
    assert not torch.allclose(reference(**flipped), package_loss)


def test_the_configs_adam_takes_the_same_step_as_torchs_reference_loop():
    model, batch, config = tiny_model_and_batch(False)
    assert config["trainer"]["optimizer"]["type"] == "torch_adam"
    reference = reference_step.reference_for(model)
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()), params=Params(config["trainer"]["optimizer"])
    )
    assert optimizer.defaults["fused"] is True
    single_tensor = torch.optim.Adam(reference.parameters(), lr=1e-3, weight_decay=1e-5, amsgrad=True, foreach=False)
    inputs = reference_step.reference_inputs(model, batch)
    (embedder,) = model._text_field_embedder._token_embedders.values()
    initial = embedder.weight.detach().clone()
    for _ in range(3):
        optimizer.zero_grad()
        single_tensor.zero_grad()
        model(**batch)["loss"].backward()
        reference(**inputs).backward()
        optimizer.step()
        single_tensor.step()
    assert (embedder.weight - initial).abs().max() > 1e-4  # three steps moved it
    torch.testing.assert_close(reference.embedding.weight, embedder.weight, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(reference.lstm.weight_ih_l0, model._encoder._module.weight_ih_l0, rtol=1e-5, atol=1e-7)


def test_unknown_adam_implementation_names_the_key():
    from allennlp.common.checks import ConfigurationError

    with pytest.raises(ConfigurationError, match="trainer.optimizer.implementation: 'fast'"):
        Optimizer.from_params(model_parameters=[("w", torch.nn.Parameter(torch.zeros(2)))],
                              params=Params({"type": "torch_adam", "implementation": "fast"}))
