import json
import math

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.nn import util

from attention_perturb.models.bat_classifier import (
    antonym_perturbation,
    cosine_distance,
    pairwise_contrastive_loss,
    synonym_perturbation,
    triplet_contrastive_loss,
    uniform_index,
)
from attention_perturb.modules.attention import masked_attention_weights
from attention_perturb.substitutions.wordnet import WordNetSubstitutions
from tests.cli import in_process
from tests.models.sst_model_case import SstModelCase, model_of_config
from tests.substitution_tables import fixed_synonyms, table_of

CONFIG = "fixtures/sst_bat_tiny.jsonnet"

# Sentence representations of x, x̃_o, x̃_u for four instances, and which examples exist.
CLEAN = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [1.0, 0.0]])
OVER = torch.tensor([[1.0, 1.0], [0.0, 1.0], [-3.0, -4.0], [1.0, 1.0]])
UNDER = torch.tensor([[0.0, 1.0], [2.0, 0.0], [3.0, 4.0], [-1.0, 0.0]])
OVER_VALID = torch.tensor([True, True, False, True])
UNDER_VALID = torch.tensor([True, False, True, True])
# cos(x, x̃_o) = 1/√2, 1, -1, 1/√2 and cos(x, x̃_u) = 0, 0, 1, -1, so with d = 1 - cos:
D_OVER = [1 - 1 / math.sqrt(2), 0.0, 2.0, 1 - 1 / math.sqrt(2)]
D_UNDER = [1.0, 1.0, 0.0, 2.0]


def test_cosine_distance_by_hand():
    torch.testing.assert_close(cosine_distance(CLEAN, OVER), torch.tensor(D_OVER))
    torch.testing.assert_close(cosine_distance(CLEAN, UNDER), torch.tensor(D_UNDER))


def test_pairwise_loss_by_hand():
    """Each term is the mean over the instances that have its example, as in BAT's code."""
    alpha, beta = 2.0, 0.5
    synonym_terms = [D_OVER[0], D_OVER[1], D_OVER[3]]  # instance 2 has no synonym example
    antonym_hinges = [max(0.0, 1 - D_UNDER[0]), max(0.0, 1 - D_UNDER[2]), max(0.0, 1 - D_UNDER[3])]  # 0, 1, 0
    loss = pairwise_contrastive_loss(
        cosine_distance(CLEAN, OVER), cosine_distance(CLEAN, UNDER), OVER_VALID, UNDER_VALID, alpha, beta, margin=1.0
    )
    assert loss.item() == pytest.approx(alpha * sum(synonym_terms) / 3 + beta * sum(antonym_hinges) / 3)
    assert loss.item() == pytest.approx(2.0 * (2 * 0.292893) / 3 + 0.5 / 3, abs=1e-6)
    # A batch without any antonym example: the antonym term is 0, not a division by zero.
    none = torch.zeros(4, dtype=torch.bool)
    alone = pairwise_contrastive_loss(
        cosine_distance(CLEAN, OVER), cosine_distance(CLEAN, UNDER), OVER_VALID, none, alpha, beta, margin=1.0
    )
    assert alone.item() == pytest.approx(alpha * sum(synonym_terms) / 3)
    # One instance with each example: each term is that instance's own.
    first, third = (torch.arange(4) == index for index in (0, 2))
    single = pairwise_contrastive_loss(
        cosine_distance(CLEAN, OVER), cosine_distance(CLEAN, UNDER), first, third, alpha, beta, margin=1.0
    )
    assert single.item() == pytest.approx(alpha * D_OVER[0] + beta * max(0.0, 1 - D_UNDER[2]))
    # The defaults: α = β = m = 1.
    default = pairwise_contrastive_loss(cosine_distance(CLEAN, OVER), cosine_distance(CLEAN, UNDER), OVER_VALID, UNDER_VALID)
    assert default.item() == pytest.approx(sum(synonym_terms) / 3 + sum(antonym_hinges) / 3)


def test_triplet_loss_by_hand():
    per_instance = [
        max(0.0, D_OVER[0] + 1 - D_UNDER[0]),  # 0.2929
        max(0.0, D_OVER[1]),  # m - d(x, x̃_u) masked out: 0
        max(0.0, 1 - D_UNDER[2]),  # d(x, x̃_o) masked out: 1
        max(0.0, D_OVER[3] + 1 - D_UNDER[3]),  # 0.2929 - 1 < 0: 0
    ]
    loss = triplet_contrastive_loss(cosine_distance(CLEAN, OVER), cosine_distance(CLEAN, UNDER), OVER_VALID, UNDER_VALID)
    assert loss.item() == pytest.approx(sum(per_instance) / 4)
    assert loss.item() == pytest.approx((0.292893 + 0.0 + 1.0 + 0.0) / 4, abs=1e-6)
    # Neither example: nothing to contrast.
    none = torch.zeros(4, dtype=torch.bool)
    assert triplet_contrastive_loss(torch.ones(4), torch.zeros(4), none, none).item() == 0.0


# Vocabulary 0 padding, 1 OOV, 2..6 words; synonyms of 2 are 5, 6; of 3 is 4; antonym of 4 is 2.
SYNONYMS = torch.tensor([[0, 0], [0, 0], [5, 6], [4, 0], [0, 0], [0, 0], [0, 0]])
ANTONYMS = torch.tensor([[0, 0], [0, 0], [0, 0], [0, 0], [2, 0], [0, 0], [0, 0]])


def test_synonym_perturbation_draws_uniformly_from_the_synonym_set_including_the_word():
    token_ids = torch.tensor([[2, 3, 4, 0], [4, 6, 0, 0]]).repeat(3000, 1)
    mask = token_ids != 0
    perturbed, valid = synonym_perturbation(token_ids, mask, SYNONYMS, torch.Generator().manual_seed(0))
    first, second = perturbed[0::2], perturbed[1::2]
    # Position 0 (word 2): {2, 5, 6} a third each; position 1 (word 3): {3, 4} half each.
    for value in (2, 5, 6):
        assert (first[:, 0] == value).float().mean().item() == pytest.approx(1 / 3, abs=0.03)
    for value in (3, 4):
        assert (first[:, 1] == value).float().mean().item() == pytest.approx(1 / 2, abs=0.03)
    assert torch.equal(first[:, 2:], token_ids[0::2, 2:]) and torch.equal(second, token_ids[1::2])
    torch.testing.assert_close(valid, (perturbed != token_ids).any(1))
    assert not valid[1::2].any() and valid[0::2].float().mean().item() == pytest.approx(1 - 1 / 6, abs=0.03)


def test_antonym_perturbation_replaces_exactly_one_word_with_an_antonym():
    token_ids = torch.tensor([[4, 3, 4, 0], [2, 3, 0, 0], [5, 4, 0, 0]]).repeat(2000, 1)
    mask = token_ids != 0
    perturbed, valid = antonym_perturbation(token_ids, mask, ANTONYMS, torch.Generator().manual_seed(0))
    assert valid.tolist() == [True, False, True] * 2000
    changed = perturbed != token_ids
    assert torch.equal(changed.sum(1), valid.long())
    assert torch.all(perturbed[changed] == 2)  # the antonym of word 4
    # The first sentence has two words with an antonym (positions 0 and 2): each half the time.
    assert changed[0::3, 0].float().mean().item() == pytest.approx(0.5, abs=0.04)
    assert not changed[0::3, 1].any() and not changed[:, 3].any()
    assert torch.all(changed[2::3, 1])


def test_a_uniform_index_stays_below_its_size():
    uniform = torch.tensor([0.0, 0.5, 0.99, 1.0, 1.0, 0.7])
    sizes = torch.tensor([3, 3, 3, 3, 1, 0])
    assert uniform_index(uniform, sizes).tolist() == [0, 1, 2, 2, 0, 0]


# Word 2 has three antonyms, word 4 one.
ANTONYM_SETS = torch.tensor([[0, 0, 0], [0, 0, 0], [3, 4, 5], [0, 0, 0], [2, 0, 0], [0, 0, 0], [0, 0, 0]])


def test_the_antonym_is_drawn_uniformly_among_the_words_antonyms():
    token_ids = torch.tensor([[2, 1]]).repeat(6000, 1)
    perturbed, valid = antonym_perturbation(token_ids, token_ids != 0, ANTONYM_SETS, torch.Generator().manual_seed(0))
    assert valid.all()
    for value in (3, 4, 5):
        assert (perturbed[:, 0] == value).float().mean().item() == pytest.approx(1 / 3, abs=0.03)


@pytest.mark.parametrize("perturbation, table", [(synonym_perturbation, SYNONYMS), (antonym_perturbation, ANTONYM_SETS)])
def test_the_perturbations_follow_their_generator(perturbation, table):
    token_ids = torch.tensor([[2, 3, 4, 0], [4, 3, 4, 0], [2, 3, 0, 0]]).repeat(50, 1)
    draws = [perturbation(token_ids, token_ids != 0, table, torch.Generator().manual_seed(seed))[0] for seed in (1, 1, 2)]
    assert torch.equal(draws[0], draws[1]) and not torch.equal(draws[0], draws[2])


class TestBatClassifier(SstModelCase):
    CONFIG, BATCH_SIZE = CONFIG, 16

    def environment(self, request):
        return {"BAT_VARIANT": "triplet"}

    @pytest.mark.parametrize("method, target", [("attention_at", "attention"), ("word_at", "embedding")])
    def test_combines_with_a_perturbation(self, monkeypatch, method, target):
        monkeypatch.setenv("BAT_VARIANT", "pairwise")
        monkeypatch.setenv("METHOD", method)
        self.set_up_model(CONFIG, "fixtures/sst/train.txt", seed=7)
        model, batch = self.model, self.batch()
        assert model.variant == "pairwise" and model.perturbation.target == target
        model.train()
        output = model(**batch)
        # The training output is x's, as in evaluation: its attention normalises its scores; the
        # perturbation (on x alone) has norm ε.
        mask = util.get_text_field_mask(batch["tokens"])
        torch.testing.assert_close(masked_attention_weights(output["attention_scores"], mask), output["attention"])
        assert output["perturbation_norm"].item() == pytest.approx(model.perturbation.epsilon, rel=1e-4)
        contrastive = model.get_metrics(reset=True)["bat_contrastive_loss"]
        # Eq. 20 on x (L + λ·L_adv, λ = 1) plus the contrastive term.
        assert output["loss"].item() == pytest.approx(
            output["clean_loss"].item() + output["adversarial_loss"].item() + contrastive, rel=1e-5
        )
        assert output["adversarial_loss"].item() > output["clean_loss"].item()
        output["loss"].backward()
        assert all(p.grad is not None for p in model._attention.parameters())

    def test_tables_hold_in_vocabulary_wordnet_substitutes(self):
        wordnet = WordNetSubstitutions()
        for kind, substitutes in (("synonym", wordnet.synonyms), ("antonym", wordnet.antonyms)):
            table = self.model.substitution_table(kind)
            rows = (table != 0).any(1).nonzero().flatten().tolist()
            assert rows
            for row in rows:
                word = self.vocab.get_token_from_index(row, "tokens")
                for index in table[row][table[row] != 0].tolist():
                    assert self.vocab.get_token_from_index(index, "tokens") in substitutes(word)

    @pytest.mark.parametrize("variant", ["pairwise", "triplet"])
    def test_training_loss_is_recomputed_from_the_raw_modules(self, variant):
        model, batch = self.model, self.batch()
        model.train()
        model.variant = variant
        model.contrastive_weight, model.synonym_weight, model.antonym_weight, model.margin = 0.8, 1.0, 1.2, 0.7
        # Fixed tables instead of WordNet's, installed where the model keeps its tables: synonyms the
        # next two ids for most words, antonyms the previous id for every fourth word.
        size, width = model.vocab.get_vocab_size("tokens"), model.max_candidates
        synonyms = table_of(fixed_synonyms(size), width)
        antonyms = table_of({word: [word - 1] if word % 4 == 0 else [] for word in range(1, size)}, width)
        model._wordnet_tables[("synonym", width)], model._wordnet_tables[("antonym", width)] = synonyms, antonyms
        torch.manual_seed(3)
        output = model(**batch)

        tokens, label = batch["tokens"], batch["label"]
        mask = util.get_text_field_mask(tokens)
        token_ids = util.get_token_ids_from_text_field_tensors(tokens)
        torch.manual_seed(3)
        over_ids, over_valid = synonym_perturbation(token_ids, mask, synonyms)
        under_ids, under_valid = antonym_perturbation(token_ids, mask, antonyms)
        assert over_valid.any() and under_valid.any() and not under_valid.all()
        changed = under_ids != token_ids
        assert torch.equal(changed.sum(1), under_valid.long())  # one word, replaced by the word before it
        assert torch.equal(under_ids[changed], token_ids[changed] - 1) and torch.all(token_ids[changed] % 4 == 0)

        def logits_and_representation(ids):
            # Each input on its own, embedded by the embedder itself.
            embeddings = model._text_field_embedder({"tokens": {"tokens": ids}})
            states = model._encoder(embeddings, mask)
            weights = masked_attention_weights(model._attention.scores(states), mask)
            representation = (weights.unsqueeze(-1) * states).sum(1)
            return model._decoder(representation).squeeze(-1), representation

        logits, clean = logits_and_representation(token_ids)
        _, over = logits_and_representation(over_ids)
        _, under = logits_and_representation(under_ids)
        d_over = 1 - (clean * over).sum(1) / (clean.norm(dim=1) * over.norm(dim=1))
        d_under = 1 - (clean * under).sum(1) / (clean.norm(dim=1) * under.norm(dim=1))
        cross_entropy = torch.nn.functional.binary_cross_entropy_with_logits(logits, (label == model._positive_index).float())
        if variant == "pairwise":
            # Each term over the instances that have its example (not every instance has an antonym).
            contrastive = 1.0 * (d_over * over_valid).sum() / over_valid.sum() + 1.2 * (
                (0.7 - d_under).clamp_min(0) * under_valid
            ).sum() / under_valid.sum()
        else:
            contrastive = 0.8 * (d_over * over_valid + (0.7 - d_under) * under_valid).clamp_min(0).mean()
        torch.testing.assert_close(output["loss"], cross_entropy + contrastive)
        metrics = model.get_metrics(reset=True)
        assert metrics["bat_contrastive_loss"] == pytest.approx(contrastive.item(), rel=1e-5)
        assert metrics["bat_antonym_valid"] == pytest.approx(under_valid.float().mean().item())
        assert metrics["bat_synonym_distance"] == pytest.approx(d_over[over_valid].mean().item(), abs=1e-6)
        assert metrics["bat_antonym_distance"] == pytest.approx(d_under[under_valid].mean().item(), abs=1e-6)
        model.eval()
        with torch.no_grad():
            model(**batch)
        assert "bat_contrastive_loss" not in model.get_metrics()

    def test_evaluation_runs_the_clean_input_only(self):
        model, batch = self.model, self.batch()
        model.eval()
        with torch.no_grad():
            output = model(**batch)
        model.measure_agreement = False
        plain = super(type(model), model).objective({"tokens": model.embed(batch["tokens"])}, batch["label"])
        torch.testing.assert_close(output["loss"], plain["loss"])


def bat_model(monkeypatch, **keys):
    return model_of_config(CONFIG, monkeypatch, environment={"BAT_VARIANT": "triplet"}, **keys)


@pytest.mark.parametrize("key, value, message", [
    ("variant", "quadruplet", "model.variant must be one of pairwise, triplet, got 'quadruplet'"),
    ("contrastive_weight", -1, "model.contrastive_weight must be a finite number >= 0, got -1"),
    ("synonym_weight", -1, "model.synonym_weight must be a finite number >= 0, got -1"),
    ("antonym_weight", -1, "model.antonym_weight must be a finite number >= 0, got -1"),
    ("margin", -1, "model.margin must be a finite number >= 0, got -1"),
    ("max_candidates", 0, "model.max_candidates must be >= 1, got 0"),
])
def test_bad_settings_are_rejected_with_the_config_key(monkeypatch, key, value, message):
    with pytest.raises(ConfigurationError) as error:
        bat_model(monkeypatch, **{key: value})
    assert error.value.message == message


def test_one_candidate_is_enough(monkeypatch):
    assert bat_model(monkeypatch, max_candidates=1).max_candidates == 1


def test_the_defaults_are_the_documented_ones_and_the_rest_reaches_the_classifier(monkeypatch):
    keys = ("adversarial_weight", "variant", "contrastive_weight", "synonym_weight", "antonym_weight", "margin",
            "max_candidates")
    model = bat_model(monkeypatch, drop=keys)
    assert (model._adversarial_weight, model.variant, model.contrastive_weight, model.synonym_weight,
            model.antonym_weight, model.margin, model.max_candidates) == (1.0, "triplet", 1.0, 1.0, 1.0, 1.0, 8)
    assert (model._namespace, model._label_namespace) == ("tokens", "labels")
    other = bat_model(monkeypatch, positive_label="negative", namespace="words", label_namespace="sentiment_labels",
                      regularizer={"regexes": [["_attention.*", {"type": "l2", "alpha": 0.5}]]})
    assert (other._namespace, other._label_namespace) == ("words", "sentiment_labels")
    assert other._positive_index == other.vocab.get_token_index("negative", "sentiment_labels")
    assert other.get_regularization_penalty() > 0


def test_train_through_the_cli_then_attack_the_archive(tmp_path):
    run = tmp_path / "bat"
    in_process("train", CONFIG, "-s", run, env={"METHOD": "vanilla", "BAT_VARIANT": "triplet"})
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("training_bat_contrastive_loss", "training_bat_synonym_valid", "training_bat_antonym_valid", "test_f1"):
        assert key in metrics, key
    assert "validation_bat_contrastive_loss" not in metrics  # training-only terms
    # The archive loads and is attackable like any attention_classifier.
    attack = json.loads(in_process("attack", run / "model.tar.gz", "fixtures/sst/test.txt", "--kind", "antonym").stdout)
    assert attack["instances"] > 0 and attack["after_attack_accuracy"] <= attack["clean_accuracy"]
