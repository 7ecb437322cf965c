import copy
import math
import random
import re
from pathlib import Path

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.fields import TextField
from allennlp.models.archival import load_archive
from allennlp.nn import util
from scipy.spatial.distance import jensenshannon

from attention_perturb.errors import SettingError
from attention_perturb.models.seat_embedding_classifier import worst_embedding_perturbation
from attention_perturb.robustness.faithfulness import attention_rationale, comprehensiveness_and_sufficiency, erase
from attention_perturb.robustness.stability import (
    AttentionRunner,
    SynonymSubstitution,
    attention_model,
    indexed_batches,
    jensen_shannon_divergence,
    normalised_entropy,
    seat_embedding_attack,
    second_model_and_instances,
    stability_file,
    stability_report,
    total_variation_distance,
)
from attention_perturb.substitutions.wordnet import WordNetSubstitutions
from tests.archives import archive_without_attention, second_seed_archive, vanilla_archive  # noqa: F401
from tests.devices import on_the_first_gpu
from tests.robustness.unreadable import with_two_indexer_reader, with_two_indexers, with_words_renamed

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


# Sentences of the fixture vocabulary's words that have in-vocabulary WordNet synonyms (six
# positions each), so that which positions a perturbation draws, and how many, matter.
SYNONYM_RICH = [("a terrific new film in a fresh style", 1), ("the modern theater is a fantastic way", 1),
                ("a new movie with passion and light , terrific", 0)]


@pytest.fixture(scope="module")
def synonym_rich(vanilla_archive):  # noqa: F811
    archive = load_archive(vanilla_archive)
    labels = archive.model.vocab.get_index_to_token_vocabulary("labels")
    return instances_of(archive.validation_dataset_reader, [(text, labels[label]) for text, label in SYNONYM_RICH])


def instances_of(reader, texts_and_labels):
    instances = [reader.text_to_instance(text, label) for text, label in texts_and_labels]
    for instance in instances:
        reader.apply_token_indexers(instance)
    return instances


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


class NextWordTable:
    """A substitution table that offers a word itself and the next vocabulary id, leaving out the id it
    is told is the word's own (as `WordNetSubstitutions.in_vocabulary` does)."""

    def in_vocabulary(self, word, own_id, kind, vocab, namespace):
        itself = vocab.get_token_index(word, namespace)
        return [candidate for candidate in (itself, itself + 1) if candidate != own_id]


def test_synonym_substitution_tells_the_table_each_words_own_id(vanilla):
    model, _ = vanilla
    substitution = SynonymSubstitution(model, words=1, seed=1, substitutions=NextWordTable())
    ids = torch.tensor([[5, 9, 12]])
    perturbed, changed = substitution(ids)
    assert changed.tolist() == [True]
    assert [(before, after) for before, after in zip(ids[0].tolist(), perturbed[0].tolist()) if before != after] in (
        [(5, 6)], [(9, 10)], [(12, 13)])


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


def test_values_outside_the_mask_are_ignored_and_two_word_inputs_have_an_entropy():
    # Padding may hold anything (a model's masked softmax leaves 0 there, but the measures must not rely on it).
    first = torch.tensor([[0.5, 0.5, 0.3], [0.25, 0.75, 9.0]])
    second = torch.tensor([[1.0, 0.0, 0.7], [0.25, 0.75, 0.0]])
    mask = torch.tensor([[True, True, False], [True, True, False]])
    by_hand = 0.5 * (0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)) + 0.5 * math.log(1 / 0.75)
    torch.testing.assert_close(jensen_shannon_divergence(first, second, mask), torch.tensor([by_hand, 0.0], dtype=torch.float64))
    two_words = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75)) / math.log(2)
    torch.testing.assert_close(normalised_entropy(first, mask), torch.tensor([1.0, two_words], dtype=torch.float64))


def test_a_one_word_input_has_an_empty_rationale_when_one_word_must_stay():
    attention, mask = torch.tensor([[1.0, 0.0], [0.4, 0.6]]), torch.tensor([[True, False], [True, True]])
    assert attention_rationale(attention, mask, 3, keep_one_out=True).tolist() == [[False, False], [False, True]]
    assert attention_rationale(attention, mask, 3).tolist() == [[True, False], [True, True]]


def test_rationale_ties_go_to_the_earlier_position():
    """A 40-way tie, which only a stable sort resolves by position (an unstable one permutes it)."""
    attention, mask = torch.full((1, 40), 1 / 40), torch.ones(1, 40, dtype=torch.bool)
    assert attention_rationale(attention, mask, 7)[0].nonzero().flatten().tolist() == list(range(7))


def test_erasing_keeps_one_column_when_at_most_one_token_stays():
    ids = torch.tensor([[5, 6, 7], [8, 9, 0]])
    assert erase(ids, torch.tensor([[False, True, False], [False, False, False]])).tolist() == [[6], [0]]
    assert erase(ids, torch.zeros(2, 3, dtype=torch.bool)).tolist() == [[0], [0]]


def test_comprehensiveness_keeps_one_word_when_k_covers_the_input():
    """k ≥ the length: x \\ r keeps the least attended word (not an empty input), r is the whole input."""
    weights = {0: 0.0, 5: 1.0, 6: 2.0}

    def predict(ids):
        positive = torch.sigmoid(torch.tensor([sum(weights[i] for i in row) - 1.0 for row in ids.tolist()]))
        return torch.stack([1 - positive, positive], -1)

    ids = torch.tensor([[5, 6]])
    attention = torch.tensor([[0.3, 0.7]])
    comprehensiveness, sufficiency = comprehensiveness_and_sufficiency(predict, ids, ids > 0, attention, predict(ids), k=5)
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert comprehensiveness.item() == pytest.approx(sigmoid(2.0) - sigmoid(0.0), abs=1e-6)  # x \\ r = [5]
    assert sufficiency.item() == pytest.approx(0.0, abs=1e-7)


def objective_at(model, embedded, embeddings, with_graph=False):
    """Attention and class probabilities of `model` with `embeddings` in place of the embedded words'."""
    with torch.set_grad_enabled(with_graph):
        output = model.objective({"tokens": embedded._replace(embeddings=embeddings)}, None)
        return output["attention"], model.probabilities(output["logits"])


def probabilities_with_offset(model, embedded):
    """The attack's objective: class probabilities with an offset `d` added to the embedded words (with its graph)."""
    return lambda d: objective_at(model, embedded, embedded.embeddings + d, with_graph=True)[1]


def embedded_batch(model, instances):
    _, _, (batch,) = indexed_batches(model, instances, len(instances), "test")
    with torch.no_grad():
        return batch, util.get_token_ids_from_text_field_tensors(batch["tokens"]), model.embed(batch["tokens"])


def test_the_runner_at_embeddings_adds_delta(vanilla):
    model, instances = vanilla
    _, ids, embedded = embedded_batch(model, instances)
    delta = 0.3 * torch.randn(embedded.embeddings.shape, generator=torch.Generator().manual_seed(0))
    run = AttentionRunner(model, "tokens", "tokens")
    for got, expected in zip(run.at_embeddings(run.embedded(ids), delta), objective_at(model, embedded, embedded.embeddings + delta)):
        torch.testing.assert_close(got, expected)


def test_a_run_without_noise_draws_no_random_numbers(vanilla):
    """Measuring leaves the caller's global random state as it was (noise, when asked for, comes from its own generator)."""
    model, instances = vanilla
    _, ids, _ = embedded_batch(model, instances)
    run = AttentionRunner(model, "tokens", "tokens")
    before = torch.get_rng_state()
    run(ids)
    run(ids, noise_std=0.1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.get_rng_state(), before)


def test_the_attack_targets_a_one_hot_over_all_classes(vanilla):
    """All targets 0: the target is still a (batch, 2) one-hot, not one sized by the largest target."""
    model, instances = vanilla
    _, ids, embedded = embedded_batch(model, instances)
    delta = seat_embedding_attack(AttentionRunner(model, "tokens", "tokens"), ids, torch.zeros(len(ids), dtype=torch.long),
                                  0.3, 3, torch.Generator().manual_seed(2))
    expected = worst_embedding_perturbation(
        probabilities_with_offset(model, embedded),
        embedded.embeddings, embedded.mask, torch.tensor([[1.0, 0.0]]).expand(len(ids), 2), 0.3, 3, torch.Generator().manual_seed(2),
    )
    torch.testing.assert_close(delta, expected)


def report_by_hand(model, instances, second_model, second_instances, noise_std, synonym_words, top_k, batch_size, seed,
                   pgd_radius, pgd_steps):
    """Every column of `stability_report`, instance by instance, from the model's own stages run in
    float64, scipy's JSD, WordNet's synonym lists and `random.Random(seed).sample` of each row's positions."""
    model, second_model = (copy.deepcopy(m).double() for m in (model, second_model))
    wordnet, vocabulary = WordNetSubstitutions(), model.vocab.get_token_to_index_vocabulary("tokens")
    unusable = {0, model.vocab.get_token_index(model.vocab._oov_token, "tokens")}
    draw, noise_generator, pgd_generator = random.Random(seed), torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
    columns = {name: [] for name in ("attention_entropy", "accuracy", "pgd_jsd", "pgd_tvd", "noise_jsd", "noise_tvd",
                                     "synonym_jsd", "synonym_tvd", "seed_jsd", "seed_tvd", "comprehensiveness", "sufficiency")}

    def jsd(a, b, valid):
        return jensenshannon(a[valid].double().numpy(), b[valid].double().numpy()) ** 2

    def tvd(p, q):
        return (p - q).abs().sum().item() / 2

    def synonym(token_id):
        if token_id in unusable:
            return None
        word = model.vocab.get_token_from_index(token_id, "tokens")
        found = [vocabulary[s] for s in wordnet.synonyms(word) if vocabulary.get(s, 0) not in unusable and vocabulary[s] != token_id]
        return found[0] if found else None

    def clean(ids):
        with torch.no_grad():
            embedded = model.embed({"tokens": {"tokens": torch.tensor([ids or [0]])}})
        attention, probabilities = objective_at(model, embedded, embedded.embeddings)
        return attention[0], probabilities[0]

    for start in range(0, len(instances), batch_size):
        batch, ids, embedded = embedded_batch(model, instances[start:start + batch_size])
        mask = ids > 0
        attention, probabilities = objective_at(model, embedded, embedded.embeddings)
        labelled = "label" in batch
        targets = batch["label"] if labelled else probabilities.argmax(-1)
        delta = worst_embedding_perturbation(
            probabilities_with_offset(model, embedded),
            embedded.embeddings, embedded.mask, torch.nn.functional.one_hot(targets, 2).double(), pgd_radius, pgd_steps, pgd_generator,
        )
        attacked = objective_at(model, embedded, embedded.embeddings + delta)
        noise = torch.randn(embedded.embeddings.shape, generator=noise_generator)
        noisy = objective_at(model, embedded, embedded.embeddings + noise_std * noise * mask.unsqueeze(-1))
        _, _, second_embedded = embedded_batch(second_model, second_instances[start:start + batch_size])
        other_seed = objective_at(second_model, second_embedded, second_embedded.embeddings)
        for row in range(len(ids)):
            valid, length, words = mask[row], int(mask[row].sum()), ids[row, :int(mask[row].sum())].tolist()
            if length >= 2:
                columns["attention_entropy"].append(
                    -sum(w * math.log(w) for w in attention[row, valid].double().tolist() if w > 0) / math.log(length))
            if labelled:
                columns["accuracy"].append(float(int(probabilities[row].argmax()) == int(batch["label"][row])))
            for name, (other_attention, other_probabilities) in (("pgd", attacked), ("noise", noisy), ("seed", other_seed)):
                columns[f"{name}_jsd"].append(jsd(attention[row], other_attention[row], valid))
                columns[f"{name}_tvd"].append(tvd(probabilities[row], other_probabilities[row]))
            positions = [i for i, token_id in enumerate(words) if synonym(token_id) is not None]
            chosen = draw.sample(positions, min(synonym_words, len(positions)))
            if chosen:
                synonym_attention, synonym_probabilities = clean([synonym(t) if i in chosen else t for i, t in enumerate(words)])
                columns["synonym_jsd"].append(jsd(attention[row, :length], synonym_attention, valid[:length]))
                columns["synonym_tvd"].append(tvd(probabilities[row], synonym_probabilities))
            predicted, full = int(probabilities[row].argmax()), probabilities[row].max().item()
            ranked = sorted(range(length), key=lambda i: -attention[row, i].item())
            rationale, erased = set(ranked[:top_k]), set(ranked[:min(top_k, length - 1)])
            columns["comprehensiveness"].append(full - clean([w for i, w in enumerate(words) if i not in erased])[1][predicted].item())
            columns["sufficiency"].append(full - clean([w for i, w in enumerate(words) if i in rationale])[1][predicted].item())
    report = {name: sum(values) / len(values) for name, values in columns.items() if values}
    report["synonym_instances"], report["instances"] = float(len(columns["synonym_jsd"])), float(len(instances))
    return report


def without_labels(instances):
    return [Instance({name: field for name, field in instance.fields.items() if name != "label"}) for instance in instances]


@pytest.mark.parametrize("labelled", [True, False])
def test_every_column_of_the_report_equals_a_computation_by_hand(labelled, vanilla, synonym_rich, second_seed_archive):  # noqa: F811
    """Several batches (5 instances each), settings away from the defaults, a second seed's model;
    unlabelled instances are attacked towards the predicted label and have no accuracy."""
    model, instances = vanilla
    instances = instances[:5] + synonym_rich + instances[5:10]
    second = load_archive(second_seed_archive)
    second_instances = instances_of(second.validation_dataset_reader, [
        (" ".join(token.text for token in instance["tokens"].tokens), instance["label"].label) for instance in instances])
    if not labelled:
        instances, second_instances = without_labels(instances), without_labels(second_instances)
    settings = dict(noise_std=0.3, synonym_words=2, top_k=3, batch_size=5, seed=7, pgd_radius=0.2, pgd_steps=3)
    report = stability_report(model, instances, second_model=second.model, second_instances=second_instances, **settings)
    expected = report_by_hand(model, instances, second.model.eval(), second_instances, **settings)
    assert sorted(report) == sorted(expected) and ("accuracy" in report) == labelled
    assert 0 < expected["synonym_instances"] < len(instances)
    assert report.get("accuracy") != 0.5  # where 1 − accuracy would be the same number
    for name, value in expected.items():
        assert report[name] == pytest.approx(value, rel=1e-5, abs=1e-9), name


def test_the_defaults_are_the_documented_settings(vanilla, synonym_rich):
    """SEAT's radius 0.01 and 10 PGD steps, noise std 0.01, one synonym, ERASER's top 5, seed 0,
    64 instances a batch. 70 instances, the longest the 65th, so that another batch size changes
    the batches' widths and with them the random draws."""
    model, instances = vanilla
    longest = max(instances, key=lambda instance: len(instance["tokens"]))
    others = [instance for instance in instances if instance is not longest] + synonym_rich
    instances = (others * 6)[:64] + [longest] + others[:5]
    documented = dict(noise_std=0.01, synonym_words=1, top_k=5, batch_size=64, seed=0, pgd_radius=0.01, pgd_steps=10)
    assert stability_report(model, instances) == stability_report(model, instances, **documented)


@pytest.mark.parametrize("settings, message", [
    (dict(noise_std=-0.1), "noise_std: must be a finite number >= 0, got -0.1"),
    (dict(pgd_radius=-1.0), "pgd_radius: must be a finite number >= 0, got -1.0"),
    (dict(pgd_steps=0), "pgd_steps: must be >= 1, got 0"),
    (dict(top_k=0), "top_k: must be >= 1, got 0"),
    (dict(synonym_words=0), "synonym_words: must be >= 1, got 0"),
    (dict(noise_std=float("inf")), "noise_std: must be a finite number >= 0, got inf"),
    (dict(pgd_radius="0.1"), "pgd_radius: must be a finite number >= 0, got '0.1'"),
])
def test_each_bad_setting_is_refused_by_its_name(settings, message, vanilla):
    """The library names its parameter; the command prints it under its flag (tests/commands)."""
    model, instances = vanilla
    with pytest.raises(SettingError, match=f"^{re.escape(message)}$"):
        stability_report(model, instances[:2], **settings)


def test_the_smallest_allowed_settings_are_accepted(vanilla):
    model, instances = vanilla
    report = stability_report(model, instances[:3], top_k=1, synonym_words=1, pgd_steps=1, noise_std=0.0, pgd_radius=0.0)
    assert report["instances"] == 3.0 and report["noise_jsd"] == 0.0 and report["pgd_tvd"] == 0.0


def test_errors_name_the_archive_they_come_from(vanilla, archive_without_attention):  # noqa: F811
    model, instances = vanilla
    no_attention = load_archive(archive_without_attention).model
    refusal = "stability needs an attention model (attention_classifier, seat_classifier, flat_classifier); " \
              "this archive holds a BasicClassifier, which has no attention"
    with pytest.raises(ConfigurationError, match=f"^model: {re.escape(refusal)}$"):
        stability_report(no_attention, instances)
    with pytest.raises(ConfigurationError, match=f"^model: {re.escape(refusal)}$"):
        attention_model(no_attention)
    with pytest.raises(ConfigurationError, match=f"^first.tar.gz: {re.escape(refusal)}$"):
        stability_report(no_attention, instances, source="first.tar.gz")
    with pytest.raises(ConfigurationError, match=f"^second model: {re.escape(refusal)}$"):
        stability_report(model, instances, second_model=no_attention, second_instances=instances)
    with pytest.raises(ConfigurationError, match="^second model: instances need a `tokens` text field$"):
        stability_report(model, instances, second_model=model, second_instances=[Instance({"words": i["tokens"]}) for i in instances])
    retokenized = [Instance({"tokens": TextField(instance["tokens"].tokens[:-1] or instance["tokens"].tokens,
                                                 instance["tokens"].token_indexers)}) for instance in instances]
    with pytest.raises(ConfigurationError, match="^second model: its reader tokenizes the data differently$"):
        stability_report(model, instances, second_model=model, second_instances=retokenized)
    for second_instances in (None, instances[:-1]):
        with pytest.raises(ConfigurationError, match="^second model: its reader gives a different number of instances$"):
            stability_report(model, instances, second_model=model, second_instances=second_instances)


def test_a_pair_model_is_refused_as_a_pair_model(monkeypatch):
    from allennlp.common import Params
    from allennlp.data import Vocabulary
    from allennlp.models import Model

    from attention_perturb.data.dataset_readers.babi_qa import BabiReader

    monkeypatch.setenv("METHOD", "vanilla")
    instances = list(BabiReader().read("fixtures/babi/en-10k/qa1_single-supporting-fact_train.txt"))[:4]
    params = Params.from_file("fixtures/babi_tiny.jsonnet").pop("model")
    pair_model = Model.from_params(vocab=Vocabulary.from_instances(instances), params=params)
    with pytest.raises(ConfigurationError, match=r"^pair.tar.gz: .* holds a AttentionPairClassifier, which attends over a pair "
                                                 r"of texts \(not supported\)$"):
        stability_report(pair_model, instances, source="pair.tar.gz")


def test_instances_the_measure_cannot_read_are_refused_with_the_source(vanilla):
    model, instances = vanilla
    renamed = [with_words_renamed(instance) for instance in instances[:2]]
    with pytest.raises(ConfigurationError, match="^data.txt: instances need a `tokens` text field$"):
        stability_report(model, renamed, source="data.txt")
    two_indexers = [with_two_indexers(instance) for instance in instances[:2]]
    with pytest.raises(ConfigurationError, match=re.escape("data.txt: stability needs one single-id token indexer, got ['again', 'tokens']")):
        stability_report(model, two_indexers, source="data.txt")


def test_the_synonyms_come_from_the_substitutions_given(vanilla, synonym_rich):
    """With every word a stop word, no word has a synonym: nothing is perturbed."""
    model, _ = vanilla
    words = model.vocab.get_token_to_index_vocabulary("tokens")
    assert stability_report(model, synonym_rich)["synonym_instances"] == 3.0
    report = stability_report(model, synonym_rich, substitutions=WordNetSubstitutions(stopwords=set(words)))
    assert report["synonym_instances"] == 0.0 and math.isnan(report["synonym_jsd"]) and math.isnan(report["synonym_tvd"])


def test_jsd_and_tvd_are_measured_in_float64_from_model_to_mean(vanilla):
    """At radii of 1e-4 and 2e-4 every PGD iterate scales with the radius (same random start, same
    gradient signs), so the TVD doubles and the JSD (7.6e-14 here), second order, quadruples, up to
    higher-order terms of ~1e-5 (TVD) and ~1e-4 (JSD). float32 weights and probabilities (~6e-8
    resolution) cannot carry such differences: with the model run in float32, the ratios come out
    1.9981 and 3.961 (measured on this fixture)."""
    model, instances = vanilla
    reports = [stability_report(model, instances[:12], pgd_radius=radius, noise_std=0.0, seed=4) for radius in (1e-4, 2e-4)]
    assert 0 < reports[0]["pgd_tvd"] < 1e-4 and 0 < reports[0]["pgd_jsd"] < 1e-12
    assert reports[1]["pgd_tvd"] / reports[0]["pgd_tvd"] == pytest.approx(2, rel=2e-5)
    assert reports[1]["pgd_jsd"] / reports[0]["pgd_jsd"] == pytest.approx(4, rel=1e-3)
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())  # the caller's model is left as it was


def test_without_float64_each_model_is_measured_in_its_own_dtype(vanilla, second_seed_archive):  # noqa: F811
    """float64=False runs the float32 models as they are: their measures differ, in the last digits,
    from the same models' float64 copies measured the same way."""
    model, instances = vanilla
    second = load_archive(second_seed_archive)
    second_instances = list(second.validation_dataset_reader.read(DATA))[:6]
    settings = dict(second_instances=second_instances, noise_std=0.0, float64=False)
    as_they_are = stability_report(model, instances[:6], second_model=second.model, **settings)
    first_in_float64 = stability_report(copy.deepcopy(model).double(), instances[:6], second_model=second.model, **settings)
    second_in_float64 = stability_report(model, instances[:6], second_model=copy.deepcopy(second.model).double(), **settings)
    assert as_they_are["pgd_jsd"] != first_in_float64["pgd_jsd"]
    assert as_they_are["pgd_jsd"] == second_in_float64["pgd_jsd"] and as_they_are["seed_jsd"] != second_in_float64["seed_jsd"]


def test_the_clipped_pgd_columns_are_the_measures_at_the_codes_clamped_attack(vanilla):
    model, instances = vanilla
    instances = instances[:10]
    with torch.no_grad():  # embeddings of the size of real ones (±1), so that the clamp matters
        scaled = copy.deepcopy(model)
        for parameter in scaled._text_field_embedder.parameters():
            parameter.mul_(8)
    report = stability_report(scaled, instances, pgd_radius=0.1, pgd_steps=4, seed=5, pgd_clip=True)
    double = copy.deepcopy(scaled).double().eval()
    _, _, (batch,) = indexed_batches(double, instances, 64, "test")
    ids = util.get_token_ids_from_text_field_tensors(batch["tokens"])
    run = AttentionRunner(double, "tokens", "tokens")
    delta = seat_embedding_attack(run, ids, batch["label"], 0.1, 4, torch.Generator().manual_seed(5), clip_to_unit_interval=True)
    embedded = run.embedded(ids)
    perturbed = (embedded.embeddings + delta)[ids > 0]
    assert perturbed.min() >= 0 and perturbed.max() <= 1  # the code's clamp
    assert delta.abs().max() > 0.5  # far outside the 0.1-ball
    attention, probabilities = run(ids)
    attacked_attention, attacked_probabilities = run.at_embeddings(embedded, delta)
    jsd = [jensenshannon(a[m].numpy(), b[m].numpy()) ** 2 for a, b, m in zip(attention, attacked_attention, ids > 0)]
    assert report["pgd_clip_jsd"] == pytest.approx(sum(jsd) / len(jsd), rel=1e-9)
    assert report["pgd_clip_tvd"] == pytest.approx((probabilities - attacked_probabilities).abs().sum(1).mean().item() / 2, rel=1e-9)
    assert report["pgd_clip_tvd"] != pytest.approx(report["pgd_tvd"], rel=1e-2)
    assert "pgd_clip_tvd" not in stability_report(scaled, instances, pgd_radius=0.1, pgd_steps=4, seed=5)


def test_stability_file_measures_the_file_as_the_archive_reads_it_with_the_documented_defaults(vanilla, vanilla_archive, tmp_path):  # noqa: F811
    """The instances of `test_the_defaults_are_the_documented_settings` (the synonym-rich sentences
    written as flat trees, the longest sentence 65th), measured with SEAT's attack unclipped."""
    model, instances = vanilla
    trees = [line for line in Path(DATA).read_text().splitlines(keepends=True) if not line.startswith("(2 ")]
    assert len(trees) == len(instances)  # the reader drops neutral sentences
    longest = max(range(len(trees)), key=lambda index: len(instances[index]["tokens"]))
    labels = model.vocab.get_index_to_token_vocabulary("labels")
    rich = ["({} {})\n".format(4 if labels[label] == "positive" else 0, " ".join(f"(2 {word})" for word in text.split()))
            for text, label in SYNONYM_RICH]
    others = [trees[index] for index in range(len(trees)) if index != longest] + rich
    data = tmp_path / "seventy.txt"
    data.write_text("".join((others * 6)[:64] + [trees[longest]] + others[:5]))
    written = list(load_archive(vanilla_archive).validation_dataset_reader.read(str(data)))
    read_back = {" ".join(token.text for token in instance["tokens"].tokens) for instance in written}
    assert len(written) == 70 and {text for text, _ in SYNONYM_RICH} <= read_back
    documented = dict(noise_std=0.01, synonym_words=1, top_k=5, batch_size=64, seed=0, pgd_radius=0.01, pgd_steps=10)
    assert stability_file(vanilla_archive, str(data)) == stability_report(model, written, pgd_clip=False, **documented)
    # At SEAT's radius this tiny model's PGD iterates sit in a corner after a few steps; at 0.5 the 10th step counts.
    steps = {**documented, "pgd_radius": 0.5}
    assert stability_file(vanilla_archive, DATA, pgd_radius=0.5, max_instances=10) == stability_report(model, instances[:10], **steps)


def test_stability_file_passes_every_setting_on(vanilla, vanilla_archive, second_seed_archive):  # noqa: F811
    model, instances = vanilla
    second = load_archive(second_seed_archive)
    second_instances = list(second.validation_dataset_reader.read(DATA))[:9]
    settings = dict(noise_std=0.3, synonym_words=2, top_k=3, batch_size=4, seed=7, pgd_radius=0.2, pgd_steps=3, pgd_clip=True)
    report = stability_file(vanilla_archive, DATA, second_archive=second_seed_archive, max_instances=9, **settings)
    expected = stability_report(model, instances[:9], second_model=second.model, second_instances=second_instances, **settings)
    assert report == expected and "pgd_clip_tvd" in report and "seed_tvd" in report


def test_stability_file_names_the_archive_whose_model_or_reader_it_cannot_use(vanilla_archive, archive_without_attention, tmp_path):  # noqa: F811
    two_indexers = with_two_indexer_reader(vanilla_archive, tmp_path / "two_indexers")
    message = f"{two_indexers}: stability needs one single-id token indexer, got ['again', 'tokens']"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        stability_file(two_indexers, DATA, max_instances=2)
    with pytest.raises(ConfigurationError, match=f"^{re.escape(message)}$"):
        stability_file(vanilla_archive, DATA, second_archive=two_indexers, max_instances=2)
    no_attention = "stability needs an attention model (attention_classifier, seat_classifier, flat_classifier); " \
                   "this archive holds a BasicClassifier, which has no attention"
    with pytest.raises(ConfigurationError, match=f"^{re.escape(archive_without_attention)}: {re.escape(no_attention)}$"):
        stability_file(vanilla_archive, DATA, second_archive=archive_without_attention, max_instances=2)
    missing = str(tmp_path / "missing.tar.gz")
    with pytest.raises(SettingError) as raised:
        stability_file(vanilla_archive, DATA, second_archive=missing)
    assert raised.value.setting == "second_archive" and str(raised.value) == f"second_archive: {missing} does not exist"


def test_the_second_model_is_another_archives_with_its_own_reading_of_the_data(second_seed_archive):  # noqa: F811
    assert second_model_and_instances(None, DATA, None, -1) == (None, None)
    model, instances = second_model_and_instances(second_seed_archive, DATA, 3, -1)
    second = load_archive(second_seed_archive)
    assert [i["tokens"].tokens for i in instances] == [i["tokens"].tokens for i in second.validation_dataset_reader.read(DATA)][:3]
    ours, theirs = model.state_dict(), second.model.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[name], theirs[name]) for name in ours)


def test_stability_file_puts_both_models_on_the_cuda_device(vanilla_archive, second_seed_archive):  # noqa: F811
    measured = on_the_first_gpu(lambda: stability_file(vanilla_archive, DATA, second_archive=second_seed_archive,
                                                       max_instances=2, cuda_device=0))
    second = on_the_first_gpu(lambda: second_model_and_instances(second_seed_archive, DATA, 2, cuda_device=0))
    if measured:
        assert measured["instances"] == 2.0
        assert next(second[0].parameters()).device == torch.device("cuda", 0)
