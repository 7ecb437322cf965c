"""The importance measures and agreement metrics keep every tensor on the device of the model and
its inputs: each result on "meta" (CPU data behind it; tests/devices.py) and, where CUDA is
available, on "cuda" equals the CPU run's."""
import pytest
import torch
from allennlp.common import Params
from allennlp.data import Batch

from attention_perturb.interpret.agreement import kendall_per_instance, pearson_per_instance, top_k_overlap_per_instance
from attention_perturb.interpret.word_importance import WordImportance
from tests.devices import device, placed_on, tiny_model  # noqa: F401

# Settings that run every pass of each measure at least twice (several rows of LOO variants per
# pass, two integrated-gradient steps per pass), with few steps to keep the meta runs short.
MEASURES = {
    "leave_one_out": {"max_batch": 5},
    "integrated_gradients": {"steps": 4, "max_batch": 6},
    "gradient_x_input": {},
    "gradient_norm": {"detach_attention": True},
}


@pytest.fixture(scope="module")
def model_and_ids():
    model, instances = tiny_model()
    # Short instances of different lengths (8, 6 and 2 tokens), so that there is padding.
    tensors = Batch([instances[index] for index in (0, 11, 34)]).as_tensor_dict()
    return model.eval(), tensors["tokens"]["tokens"]["tokens"]


def scores_on(device_name, model, ids, name):
    """The measure's raw scores with the model and its inputs on `device_name`, on the CPU, and
    the device they were computed on."""
    with placed_on(device_name) as device:
        model.to(device)
        try:
            text = model.embed({"tokens": {"tokens": ids.to(device)}})
            embedded = {"tokens": text._replace(embeddings=text.embeddings.detach())}
            with torch.no_grad():
                labels = model.predicted_labels(model.logits_of(embedded))
            scores = WordImportance.from_params(Params({"type": name, **MEASURES[name]})).scores(model, embedded, labels)
            return scores.cpu(), scores.device
        finally:
            model.cpu()


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_each_importance_measure_runs_on_the_models_device(model_and_ids, device, name):
    model, ids = model_and_ids
    expected, _ = scores_on("cpu", model, ids, name)
    scores, placed = scores_on(device, model, ids, name)
    assert placed.type == device
    torch.testing.assert_close(scores, expected)
    assert expected.abs().sum() > 0


def test_agreement_metrics_run_on_the_inputs_device(device):
    generator = torch.Generator().manual_seed(0)
    first, second = torch.rand(3, 6, generator=generator), torch.rand(3, 6, generator=generator)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    metrics = {
        "pearson": pearson_per_instance,
        "kendall": kendall_per_instance,
        "top2": lambda a, b, m: top_k_overlap_per_instance(a, b, m, 2),
    }
    with placed_on(device) as placed:
        for name, metric in metrics.items():
            on_device = metric(first.to(placed), second.to(placed), mask.to(placed))
            assert on_device.device.type == device, name
            torch.testing.assert_close(on_device.cpu(), metric(first, second, mask), equal_nan=True, msg=name)
