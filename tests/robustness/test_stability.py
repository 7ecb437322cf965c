import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models.archival import load_archive
from allennlp.nn import util
from scipy.spatial.distance import jensenshannon

from attention_perturb.robustness.faithfulness import attention_rationale, comprehensiveness_and_sufficiency, erase
from attention_perturb.robustness.stability import (
    AttentionRunner,
    SynonymSubstitution,
    indexed_batches,
    jensen_shannon_divergence,
    normalised_entropy,
    seat_embedding_attack,
    stability_report,
    total_variation_distance,
)
from attention_perturb.substitutions.wordnet import WordNetSubstitutions
from tests.archives import archive_without_attention, second_seed_archive, vanilla_archive  # noqa: F401

DATA = "fixtures/sst/test.txt"


def test_jensen_shannon_divergence_by_hand_and_against_scipy():
    first = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.2, 0.3, 0.5, 0.0], [1.0, 0.0, 0.0, 0.0]])
    second = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.2, 0.3, 0.5, 0.0], [0.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, True, False], [True, True, False, False]])
    by_hand = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) + 0.5 * math.log(1 / 0.75)
    divergence = jensen_shannon_divergence(first, second, mask)
    torch.testing.assert_close(divergence, torch.tensor([by_hand, 0.0, math.log(2)], dtype=torch.float64))
    for row in range(3):
        assert divergence[row].item() == pytest.approx(jensenshannon(first[row], second[row]) ** 2, abs=1e-6)


def test_a_tiny_jensen_shannon_divergence_of_float32_attention_is_exact():
    """Two float32 attention rows that differ by 1e-4 relative: JSD ≈ 1e-9, which float32 logs
    (rounding ~1e-7 per term) cannot resolve; the value must match a float64 computation by hand
    (rows as given; scipy would rescale them to sum to 1, a 1e-7 change) to 1e-6 relative."""
    generator = torch.Generator().manual_seed(0)
    first = torch.softmax(torch.randn(8, 20, generator=generator), -1)
    second = torch.softmax(torch.log(first) + 1e-4 * torch.randn(8, 20, generator=generator), -1)
    mask = torch.ones(8, 20, dtype=torch.bool)
    divergence = jensen_shannon_divergence(first, second, mask)
    expected = []
    for a, b in zip(first.double().tolist(), second.double().tolist()):
        m = [(x + y) / 2 for x, y in zip(a, b)]
        expected.append(sum(x * math.log(x / z) + y * math.log(y / z) for x, y, z in zip(a, b, m)) / 2)
    assert max(expected) < 1e-8
    assert divergence.tolist() == pytest.approx(expected, rel=1e-6)


def test_normalised_entropy_by_hand():
    attention = torch.tensor([[0.25, 0.25, 0.25, 0.25], [0.0, 1.0, 0.0, 0.0], [0.5, 0.25, 0.25, 0.0], [1.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[True] * 4, [True, True, True, False], [True, True, True, False], [True, False, False, False]])
    by_hand = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(3)
    # uniform: 1; all weight on one word: 0; one valid word (last row): left out, entropy is 0 / 0 there.
    torch.testing.assert_close(normalised_entropy(attention, mask), torch.tensor([1.0, 0.0, by_hand], dtype=torch.float64))


def test_total_variation_distance_by_hand():
    torch.testing.assert_close(
        total_variation_distance(torch.tensor([[0.2, 0.8], [0.5, 0.5]]), torch.tensor([[0.6, 0.4], [0.5, 0.5]])),
        torch.tensor([0.4, 0.0]),
    )


def test_rationale_and_erasure():
    attention = torch.tensor([[0.1, 0.5, 0.4, 0.0], [0.7, 0.3, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    assert attention_rationale(attention, mask, 2).tolist() == [[False, True, True, False], [True, True, False, False]]
    # Erasing the rationale always leaves a token: k is capped at the length minus one.
    assert attention_rationale(attention, mask, 5, keep_one_out=True).tolist() == [
        [False, True, True, False], [True, False, False, False]]
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    assert erase(ids, torch.tensor([[True, False, True, False], [False, True, False, False]])).tolist() == [[5, 7], [9, 0]]


def test_comprehensiveness_and_sufficiency_by_hand():
    weights = {0: 0.0, 5: 1.0, 6: 2.0, 7: -0.5}

    def predict(ids):
        positive = torch.sigmoid(torch.tensor([sum(weights[i] for i in row) for row in ids.tolist()]))
        return torch.stack([1 - positive, positive], -1)

    ids = torch.tensor([[5, 6, 7]])
    mask = ids > 0
    attention = torch.tensor([[0.2, 0.5, 0.3]])
    comprehensiveness, sufficiency = comprehensiveness_and_sufficiency(predict, ids, mask, attention, predict(ids), k=1)
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    # Predicted class 1 (σ(2.5) > ½); rationale = {6}; x \ r = [5, 7]; r = [6].
    assert comprehensiveness.item() == pytest.approx(sigmoid(2.5) - sigmoid(0.5), abs=1e-6)
    assert sufficiency.item() == pytest.approx(sigmoid(2.5) - sigmoid(2.0), abs=1e-6)


@pytest.fixture(scope="module")
def vanilla(vanilla_archive):  # noqa: F811
    archive = load_archive(vanilla_archive)
    return archive.model.eval(), list(archive.validation_dataset_reader.read(DATA))


def test_synonym_substitution_uses_the_first_in_vocabulary_wordnet_synonym(vanilla):
    model, instances = vanilla
    _, _, (batch,) = indexed_batches(model, instances, 64, "test")
    ids = util.get_token_ids_from_text_field_tensors(batch["tokens"])
    perturbed, changed = SynonymSubstitution(model, words=2, seed=1)(ids)
    assert changed.any()
    wordnet, vocab = WordNetSubstitutions(), model.vocab
    for row in range(len(ids)):
        differs = (perturbed[row] != ids[row]).nonzero().flatten().tolist()
        assert bool(differs) == bool(changed[row]) and len(differs) <= 2
        for position in differs:
            word = vocab.get_token_from_index(int(ids[row, position]))
            in_vocabulary = [s for s in wordnet.synonyms(word) if s in vocab.get_token_to_index_vocabulary()]
            assert vocab.get_token_from_index(int(perturbed[row, position])) == in_vocabulary[0]


def test_report_is_zero_without_perturbation_and_positive_with_it(vanilla, vanilla_archive, second_seed_archive):  # noqa: F811
    model, instances = vanilla
    unperturbed = stability_report(model, instances, noise_std=0.0, second_model=model, second_instances=instances)
    assert unperturbed["noise_jsd"] == 0 and unperturbed["noise_tvd"] == 0
    assert unperturbed["seed_jsd"] == 0 and unperturbed["seed_tvd"] == 0
    second = load_archive(second_seed_archive)
    second_instances = list(second.validation_dataset_reader.read(DATA))
    report = stability_report(model, instances, noise_std=0.5, second_model=second.model, second_instances=second_instances)
    for name in ("noise_jsd", "synonym_jsd", "seed_jsd"):
        assert 0 < report[name] <= math.log(2), name
    for name in ("noise_tvd", "synonym_tvd", "seed_tvd"):
        assert 0 < report[name] <= 1, name
    assert 0 < report["synonym_instances"] <= report["instances"] == len(instances)
    assert 0 <= report["accuracy"] <= 1
    # Same seed, same perturbations: the report is reproducible.
    again = stability_report(model, instances, noise_std=0.5, second_model=second.model, second_instances=second_instances)
    assert again == report


def test_faithfulness_of_the_real_model_matches_erasing_by_hand(vanilla):
    model, instances = vanilla
    report = stability_report(model, instances[:1], top_k=2)
    _, _, (batch,) = indexed_batches(model, instances[:1], 64, "test")
    ids = util.get_token_ids_from_text_field_tensors(batch["tokens"])
    run = AttentionRunner(model, "tokens", "tokens")
    attention, probabilities = run(ids)
    top = attention[0].argsort(descending=True)[:2].tolist()
    predicted = int(probabilities[0].argmax())
    kept = torch.tensor([[i for pos, i in enumerate(ids[0].tolist()) if pos not in top]])
    rationale = torch.tensor([[i for pos, i in enumerate(ids[0].tolist()) if pos in top]])
    full = probabilities[0, predicted].item()
    assert report["comprehensiveness"] == pytest.approx(full - run(kept)[1][0, predicted].item(), abs=1e-6)
    assert report["sufficiency"] == pytest.approx(full - run(rationale)[1][0, predicted].item(), abs=1e-6)


def test_models_without_attention_and_empty_data_are_refused(vanilla, archive_without_attention):  # noqa: F811
    model, _ = vanilla
    with pytest.raises(ConfigurationError, match="no instances to measure"):
        stability_report(model, [])
    with pytest.raises(ConfigurationError, match="BasicClassifier, which has no attention"):
        stability_report(load_archive(archive_without_attention).model, vanilla[1])


@pytest.mark.parametrize("config", ["fixtures/sst_seat_tiny.jsonnet", "fixtures/sst_flat_tiny.jsonnet"])
def test_seat_and_flat_models_are_measured_through_their_own_objective(config, vanilla, vanilla_archive, monkeypatch):  # noqa: F811
    from allennlp.common import Params
    from allennlp.models import Model

    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setenv("VANILLA_ARCHIVE", vanilla_archive)
    reference, instances = vanilla
    model = Model.from_params(vocab=reference.vocab, params=Params.from_file(config).pop("model")).eval()
    report = stability_report(model, instances, noise_std=0.0)
    assert report["noise_jsd"] == 0 and report["noise_tvd"] == 0
    assert 0 <= report["synonym_jsd"] <= math.log(2)
    _, _, (batch,) = indexed_batches(model, instances, 64, "test")
    ids = util.get_token_ids_from_text_field_tensors(batch["tokens"])
    attention, probabilities = AttentionRunner(model, "tokens", "tokens")(ids)
    with torch.no_grad():
        model.measure_agreement = False
        output = model(tokens=batch["tokens"])
    torch.testing.assert_close(attention, output["attention"])  # FLAT's word masks included
    torch.testing.assert_close(probabilities, output["probs"])


def test_seat_embedding_attack_stays_in_the_ball_and_beats_random_perturbations(vanilla):
    model, instances = vanilla
    _, _, (batch,) = indexed_batches(model, instances, 64, "test")
    ids = util.get_token_ids_from_text_field_tensors(batch["tokens"])
    run = AttentionRunner(model, "tokens", "tokens")
    labels, radius = batch["label"], 0.05
    delta = seat_embedding_attack(run, ids, labels, radius, steps=10, generator=torch.Generator().manual_seed(0))
    assert delta.abs().max() <= radius + 1e-7
    assert (delta[ids == 0] == 0).all() and (delta[ids > 0].abs() > 0).any()
    embedded = run.embedded(ids)
    target = torch.nn.functional.one_hot(labels, 2).float()

    def distance_to_target(perturbation):
        return total_variation_distance(target, run.at_embeddings(embedded, perturbation)[1])

    attacked = distance_to_target(delta)
    generator = torch.Generator().manual_seed(1)
    mask = (ids > 0).unsqueeze(-1)
    random_best = torch.stack([
        distance_to_target((2 * torch.rand(delta.shape, generator=generator) - 1) * radius * mask) for _ in range(20)
    ]).max(0).values
    # Worst case, per instance: above the best of 20 random points of the ball, for nearly every sentence.
    assert (attacked >= random_best - 1e-6).float().mean() >= 0.9
    assert attacked.mean() > random_best.mean() > distance_to_target(torch.zeros_like(delta)).mean() - 1e-3


def test_the_report_measures_attention_and_prediction_at_the_attack(vanilla):
    model, instances = vanilla
    instances = instances[:16]
    assert stability_report(model, instances, pgd_radius=0.0)["pgd_jsd"] == 0.0
    report = stability_report(model, instances, pgd_radius=0.5, seed=3)
    _, _, (batch,) = indexed_batches(model, instances, 64, "test")
    ids = util.get_token_ids_from_text_field_tensors(batch["tokens"])
    run = AttentionRunner(model, "tokens", "tokens")
    delta = seat_embedding_attack(run, ids, batch["label"], 0.5, 10, torch.Generator().manual_seed(3))
    attention, probabilities = run(ids)
    attacked_attention, attacked_probabilities = run.at_embeddings(run.embedded(ids), delta)
    # By hand: JSD of the attention rows in float64 (scipy's base-e JSD is its square root), TVD = |p₁ − p'₁| for two classes.
    expected_jsd = [jensenshannon(a[m].double().numpy(), b[m].double().numpy()) ** 2
                    for a, b, m in zip(attention, attacked_attention, ids > 0)]
    assert report["pgd_jsd"] == pytest.approx(sum(expected_jsd) / len(expected_jsd), rel=1e-3)
    assert report["pgd_tvd"] == pytest.approx((probabilities[:, 1] - attacked_probabilities[:, 1]).abs().mean().item(), rel=1e-5)
    assert report["pgd_tvd"] > 0 and report["pgd_jsd"] > 1e-6
    expected_entropy = [-(a[m].double() * a[m].double().log()).sum().item() / math.log(m.sum().item())
                        for a, m in zip(attention, ids > 0) if m.sum() >= 2]
    assert report["attention_entropy"] == pytest.approx(sum(expected_entropy) / len(expected_entropy), rel=1e-6)
