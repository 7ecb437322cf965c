"""The stability measures, the attacks' model queries and the faithfulness measures run on the
device of the model they measure, whatever device their inputs come from (the measures pass CPU
ids): each result on "meta" (CPU data behind it; tests/devices.py) and, where CUDA is available,
on "cuda" equals the CPU run's."""
import pytest
import torch
from allennlp.data import Batch

from attention_perturb.robustness.attack import ModelQueries
from attention_perturb.robustness.faithfulness import attention_rationale, comprehensiveness_and_sufficiency, erase
from attention_perturb.robustness.stability import AttentionRunner, seat_embedding_attack, stability_report
from tests.devices import device, placed_on, tiny_model  # noqa: F401


@pytest.fixture(scope="module")
def model_and_instances():
    model, instances = tiny_model()
    return model.eval(), [instances[index] for index in (0, 11, 34, 24)]  # 8, 6, 2 and 5 tokens


def token_ids(instances):
    return Batch(instances).as_tensor_dict()["tokens"]["tokens"]["tokens"]


def runner_results(run, ids):
    """Everything the stability measures ask of a runner, on the CPU."""
    targets = torch.tensor([0, 1, 1, 0])
    attention, probabilities = run(ids)
    noisy = run(ids, 0.1, torch.Generator().manual_seed(0))
    delta = seat_embedding_attack(run, ids, targets, 0.5, 3, torch.Generator().manual_seed(1))
    attacked = run.at_embeddings(run.embedded(ids), delta)
    return {"attention": attention, "probabilities": probabilities, "noisy attention": noisy[0],
            "noisy probabilities": noisy[1], "attack": delta.cpu(), "attacked attention": attacked[0].cpu(),
            "attacked probabilities": attacked[1].cpu()}


def test_the_stability_runner_and_attack_run_on_the_models_device(model_and_instances, device):
    model, instances = model_and_instances
    ids = token_ids(instances)
    expected = runner_results(AttentionRunner(model, "tokens", "tokens"), ids)
    with placed_on(device) as placed:
        run = AttentionRunner(model.to(placed), "tokens", "tokens")
        try:
            assert run.embedded(ids).embeddings.device.type == device
            results = runner_results(run, ids)
        finally:
            model.cpu()
    for name, values in expected.items():
        assert results[name].device.type == "cpu", name  # the measures compare on the CPU
        torch.testing.assert_close(results[name], values, msg=name)
    assert expected["attack"].abs().sum() > 0


def query_results(queries, sequences):
    return {"probabilities": queries(sequences), **queries.explanations(sequences, 1)}


def test_the_attacks_model_queries_run_on_the_models_device(model_and_instances, device):
    model, instances = model_and_instances
    sequences = [row[row > 0].tolist() for row in token_ids(instances)]
    expected = query_results(ModelQueries(model, "tokens", "tokens"), sequences)
    with placed_on(device) as placed:
        queries = ModelQueries(model.to(placed), "tokens", "tokens")
        try:
            assert queries.tokens(sequences)["tokens"]["tokens"].device.type == device
            results = query_results(queries, sequences)
        finally:
            model.cpu()
    assert results["probabilities"].device.type == "cpu"
    torch.testing.assert_close(results["probabilities"], expected["probabilities"])
    for name in ("attention", "gradient"):
        assert [len(row) for row in results[name]] == [len(sequence) for sequence in sequences]
        assert sum(results[name], []) == pytest.approx(sum(expected[name], []), rel=1e-6, abs=1e-9), name


def test_faithfulness_runs_on_the_inputs_device(device):
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([[5, 3, 8, 2, 7], [4, 9, 6, 0, 0], [1, 0, 0, 0, 0]])
    mask = ids > 0
    attention = torch.softmax(torch.randn(3, 5, generator=generator).masked_fill(~mask, -1e9), -1)
    probabilities = torch.softmax(torch.randn(3, 2, generator=generator), -1)
    weights = torch.randn(10, 2, generator=generator)

    def predict(token_ids):  # a bag-of-words "model" on the ids' device
        return torch.softmax(weights.to(token_ids.device)[token_ids].sum(1), -1)

    def measures(ids, mask, attention, probabilities):
        return {
            "rationale": attention_rationale(attention, mask, 2),
            "rationale, keeping one out": attention_rationale(attention, mask, 2, keep_one_out=True),
            "erased": erase(ids, mask & ~attention_rationale(attention, mask, 2)),
            **dict(zip(("comprehensiveness", "sufficiency"),
                       comprehensiveness_and_sufficiency(predict, ids, mask, attention, probabilities, 2))),
        }

    expected = measures(ids, mask, attention, probabilities)
    with placed_on(device) as placed:
        results = measures(ids.to(placed), mask.to(placed), attention.to(placed), probabilities.to(placed))
        for name, values in expected.items():
            assert results[name].device.type == device, name
            torch.testing.assert_close(results[name].cpu(), values, msg=name)
