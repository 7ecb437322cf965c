import json
import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.nn import util

from attention_perturb.models.flat_classifier import (
    first_order_substitutions,
    importance_consistency_loss,
    mask_entropy,
)
from attention_perturb.modules.attention import masked_attention_weights
from attention_perturb.modules.word_masks import VariationalWordMask
from attention_perturb.substitutions.wordnet import WordNetSubstitutions
from tests.cli import in_process
from tests.models.sst_model_case import SstModelCase, model_of_config
from tests.substitution_tables import fixed_synonyms, table_of

CONFIG = "fixtures/sst_flat_tiny.jsonnet"


def entropy(p):
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def test_mask_entropy_is_the_mean_bernoulli_entropy_over_valid_words():
    importance = torch.tensor([[0.5, 0.9, 0.0], [0.2, 0.0, 0.0]])
    mask = torch.tensor([[True, True, False], [True, False, False]])
    expected = (math.log(2) + entropy(0.9) + entropy(0.2)) / 3
    assert mask_entropy(importance, mask).item() == pytest.approx(expected, rel=1e-6)
    one_word = mask_entropy(torch.tensor([[0.3, 0.0]]), torch.tensor([[True, False]]))
    assert one_word.item() == pytest.approx(entropy(0.3), rel=1e-6)  # the mean over one word is its entropy


def test_importance_consistency_sums_over_substituted_words_and_averages_over_pairs():
    importance = torch.tensor([[0.2, 0.7, 0.4], [0.5, 0.5, 0.1]])
    adversarial = torch.tensor([[0.6, 0.7, 0.1], [0.5, 0.9, 0.1]])
    substituted = torch.tensor([[True, False, True], [False, True, False]])
    assert importance_consistency_loss(importance, adversarial, substituted).item() == pytest.approx(
        ((0.4 + 0.3) + 0.4) / 2
    )


def test_first_order_substitutions_by_hand():
    # Words 1..4 in 2-d; word 1 has synonyms 2 and 3, word 4 has synonym 1, word 2 has none.
    matrix = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 0.0]])
    table = torch.tensor([[0, 0], [2, 3], [0, 0], [0, 0], [1, 0]])
    token_ids = torch.tensor([[1, 4, 2, 1], [4, 1, 0, 0]])
    mask = token_ids > 0
    embeddings = matrix[token_ids]
    gradient = torch.tensor([
        [[1.0, 0.0], [1.0, 0.0], [5.0, 5.0], [-1.0, 0.0]],
        [[-1.0, 0.0], [0.0, 1.0], [9.0, 9.0], [9.0, 9.0]],
    ])
    # Gains (e_s - e_i)·g: instance 1: pos 0 -> word 3 (+2) over word 2 (-1+0=-1); pos 1 -> word 1 (+1);
    # pos 2 none; pos 3: word 2 (+1) over word 3 (-2). Budget ⌈0.5·4⌉ = 2: positions 0 and 1.
    # Instance 2: pos 0 -> word 1 gains -1 (never substituted); pos 1 -> word 2 (+1). Budget 1.
    adversarial, substituted = first_order_substitutions(token_ids, embeddings, gradient, matrix, table, mask, 0.5)
    assert substituted.tolist() == [[True, True, False, False], [False, True, False, False]]
    assert adversarial.tolist() == [[3, 1, 2, 1], [4, 2, 0, 0]]


def test_a_substitute_that_would_not_raise_the_loss_is_not_made():
    """Within the budget, a word whose best synonym has gain 0 (the same embedding) keeps its word."""
    matrix = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    table = torch.tensor([[0], [2], [0], [1]])  # word 1 -> 2 (same vector), word 3 -> 1
    token_ids = torch.tensor([[1, 3]])
    gradient = torch.tensor([[[1.0, 1.0], [1.0, -1.0]]])  # gains: 0 at position 0, +2 at position 1
    adversarial, substituted = first_order_substitutions(token_ids, matrix[token_ids], gradient, matrix, table,
                                                         token_ids > 0, 1.0)
    assert substituted.tolist() == [[False, True]] and adversarial.tolist() == [[1, 1]]


class TestFlatClassifier(SstModelCase):
    CONFIG, BATCH_SIZE = CONFIG, 16

    def test_adversarial_words_are_wordnet_synonyms_of_the_substituted_words(self):
        model, batch = self.model, self.batch()
        model.train()
        text = model.embed(batch["tokens"])
        loss = model.loss(model.masked_forward(text)["logits"], batch["label"])
        adversarial, substituted, _ = model.adversarial_text(text, loss)
        assert substituted.any()
        assert torch.equal(adversarial.token_ids[~substituted], text.token_ids[~substituted])
        wordnet = WordNetSubstitutions()
        for original, replacement in zip(text.token_ids[substituted].tolist(), adversarial.token_ids[substituted].tolist()):
            original, replacement = (self.vocab.get_token_from_index(i, "tokens") for i in (original, replacement))
            assert replacement in wordnet.synonyms(original), (original, replacement)
        budget = torch.ceil(model.substitution_rate * text.mask.sum(1))
        assert torch.all(substituted.sum(1) <= budget)

    def test_training_loss_is_eq1_recomputed_from_the_raw_modules(self):
        model, batch = self.model, self.batch()
        model.train()
        # A fixed synonym table instead of WordNet's: two other words for most words, none for every
        # third. The test picks x' from it by brute force (`substitutions_by_hand`).
        synonyms = fixed_synonyms(model.vocab.get_vocab_size("tokens"))
        model._wordnet_tables[("synonym", model.max_synonyms)] = table_of(synonyms, model.max_synonyms)
        model.entropy_weight, model.importance_weight = 0.3, 0.7
        torch.manual_seed(3)
        output = model(**batch)
        output["loss"].backward()
        parameters = dict(model.named_parameters())
        model_gradients = {name: p.grad.clone() for name, p in parameters.items()}

        tokens, label = batch["tokens"], batch["label"]
        mask = util.get_text_field_mask(tokens)
        token_ids = util.get_token_ids_from_text_field_tensors(tokens)
        target = (label == model._positive_index).float()
        word_mask = model._word_mask
        torch.manual_seed(3)

        def loss_and_importance(embeddings):
            logits = word_mask.output(torch.tanh(word_mask.hidden(embeddings)))
            selection = torch.nn.functional.gumbel_softmax(logits, tau=word_mask.temperature, hard=word_mask.hard)[..., 1]
            states = model._encoder(embeddings * (selection * mask).unsqueeze(-1), mask)
            weights = masked_attention_weights(model._attention.scores(states), mask)
            prediction = model._decoder((weights.unsqueeze(-1) * states).sum(1)).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(prediction, target)
            return loss, torch.softmax(logits, -1)[..., 1] * mask

        embeddings = model._text_field_embedder(tokens)
        clean, importance = loss_and_importance(embeddings)
        (gradient,) = torch.autograd.grad(clean, embeddings, retain_graph=True)
        (embedder,) = model._text_field_embedder._token_embedders.values()
        assert not embedder.normalize  # so the embedding of word i is row i of the weight
        adversarial_ids, substituted = substitutions_by_hand(
            token_ids, embeddings.detach(), gradient, embedder.weight.detach(), synonyms, mask, model.substitution_rate
        )
        adversarial, adversarial_importance = loss_and_importance(embedder.weight[adversarial_ids])

        def mean_entropy(p):
            h = -(p * p.clamp_min(1e-30).log() + (1 - p) * (1 - p).clamp_min(1e-30).log())
            return (h * mask).sum() / mask.sum()

        expected = (
            clean - 0.3 * mean_entropy(importance) + adversarial - 0.3 * mean_entropy(adversarial_importance)
            + 0.7 * ((importance - adversarial_importance).abs() * substituted).sum(1).mean()
        )
        torch.testing.assert_close(output["loss"], expected)
        # The model's stand-in for the clean loss must give the same parameter gradients.
        for name, expected_gradient in zip(parameters, torch.autograd.grad(expected, list(parameters.values()))):
            torch.testing.assert_close(model_gradients[name], expected_gradient, rtol=1e-5, atol=1e-6, msg=name)
        assert substituted.any()
        metrics = model.get_metrics(reset=True)
        assert 0 < metrics["flat_substituted"] <= model.substitution_rate + 1 / mask.sum(1).min().item()

    def test_a_frozen_embedder_still_gives_the_substitutions_their_gradient(self):
        """FLAT's first-order substitutions need ∂L/∂e, which a frozen embedder does not give by itself."""
        model, batch = self.model, self.batch()
        for parameter in model._text_field_embedder.parameters():
            parameter.requires_grad_(False)
        model.train()
        output = model(**batch)
        output["loss"].backward()
        assert torch.isfinite(output["loss"]) and model.get_metrics()["flat_substituted"] > 0

    def test_inference_multiplies_embeddings_by_the_importance(self):
        model, batch = self.model, self.batch()
        model.eval()
        model.measure_agreement = False
        tokens = batch["tokens"]
        mask = util.get_text_field_mask(tokens)
        word_mask = model._word_mask

        def logits_by_hand(selection):
            """The classifier on W ⊙ e, W = `selection` (batch, length), from the raw modules."""
            embeddings = model._text_field_embedder(tokens)
            states = model._encoder(embeddings * (selection * mask).unsqueeze(-1), mask)
            weights = masked_attention_weights(model._attention.scores(states), mask)
            return model._decoder((weights.unsqueeze(-1) * states).sum(1))

        with torch.no_grad():
            first, second = model(**batch)["logits"], model(**batch)["logits"]
            torch.testing.assert_close(first, second)  # no sampling outside training
            # W = φ = q(W = 1 | e) of the learned inference network.
            embeddings = model._text_field_embedder(tokens)
            importance = torch.softmax(word_mask.output(torch.tanh(word_mask.hidden(embeddings))), -1)[..., 1]
            torch.testing.assert_close(first, logits_by_hand(importance))
            # Known mask values: a zero output layer with biases (ln 3, 0) gives φ = 1 / (1 + 3) for every word.
            word_mask.output.weight.zero_()
            word_mask.output.bias.copy_(torch.tensor([math.log(3.0), 0.0]))
            quarter = model(**batch)["logits"]
            torch.testing.assert_close(quarter, logits_by_hand(torch.full(mask.shape, 0.25)))
            assert not torch.allclose(quarter, logits_by_hand(torch.ones(mask.shape)), atol=1e-4)
            assert not torch.allclose(quarter, first, atol=1e-4)


    def test_the_substituted_share_of_a_one_word_batch(self):
        """`flat_substituted` is substituted words ÷ words, also when the batch holds one word: a
        word with two synonyms mirrored about it (e_b = 2·e_i − e_a) has one with a positive gain."""
        model = self.model
        model.train()
        word, first, second = 2, 3, 4
        (embedder,) = model._text_field_embedder._token_embedders.values()
        with torch.no_grad():
            embedder.weight[second] = 2 * embedder.weight[word] - embedder.weight[first]
        table = torch.zeros(model.vocab.get_vocab_size("tokens"), model.max_synonyms, dtype=torch.long)
        table[word, :2] = torch.tensor([first, second])
        model._wordnet_tables[("synonym", model.max_synonyms)] = table
        model(tokens={"tokens": {"tokens": torch.tensor([[word]])}}, label=torch.tensor([0]))
        assert model.get_metrics(reset=True)["flat_substituted"] == 1.0

    def test_the_output_holds_the_attention_scores_it_normalises(self):
        model, batch = self.model, self.batch()
        model.eval()
        output = model(**batch)
        mask = util.get_text_field_mask(batch["tokens"])
        torch.testing.assert_close(masked_attention_weights(output["attention_scores"], mask), output["attention"])


@pytest.mark.parametrize("hard", [True, False])
def test_training_masks_are_binary_and_straight_through_by_default(hard):
    """The authors' code samples binary masks (hard Gumbel-softmax): the encoder sees each word's
    embedding whole or zeroed, and the gradient is the relaxed sample's. Soft masks are an option."""
    torch.manual_seed(0)
    word_mask = VariationalWordMask(6, 5, temperature=0.7, hard=hard)
    embeddings = torch.randn(3, 4, 6)
    mask = torch.tensor([[True] * 4, [True, True, True, False], [True, False, False, False]])
    word_mask.train()
    torch.manual_seed(1)
    masked, importance = word_mask(embeddings, mask)
    torch.manual_seed(1)
    relaxed = torch.nn.functional.gumbel_softmax(word_mask.logits(embeddings), tau=0.7)[..., 1] * mask
    if hard:
        chosen = (relaxed > 0.5).float()  # the hard sample is the relaxed one's arg max of two
        assert 0 < chosen[mask].sum() < mask.sum()  # some words kept, some dropped
        torch.testing.assert_close(masked, embeddings * chosen.unsqueeze(-1))
    else:
        torch.testing.assert_close(masked, embeddings * relaxed.unsqueeze(-1))
        assert ((relaxed[mask] > 0) & (relaxed[mask] < 1)).all()
    # Straight-through: the gradient with respect to the inference network is the relaxed sample's.
    weights = torch.randn(3, 4, 6)
    (gradient,) = torch.autograd.grad((masked * weights).sum(), word_mask.output.weight)
    torch.manual_seed(1)
    relaxed = torch.nn.functional.gumbel_softmax(word_mask.logits(embeddings), tau=0.7)[..., 1] * mask
    (expected,) = torch.autograd.grad((embeddings * relaxed.unsqueeze(-1) * weights).sum(), word_mask.output.weight)
    torch.testing.assert_close(gradient, expected)
    assert torch.equal(importance, torch.softmax(word_mask.logits(embeddings), -1)[..., 1] * mask)


def test_flat_configs_use_the_authors_word_masks(monkeypatch):
    monkeypatch.setenv("METHOD", "vanilla")
    params = Params.from_file("training_configs/sst_flat.jsonnet").pop("model").as_dict()
    params["text_field_embedder"]["token_embedders"]["tokens"].pop("pretrained_file", None)
    model = Model.from_params(vocab=Vocabulary({"labels": {"positive": 1, "negative": 1}}), params=Params(params))
    word_mask = model._word_mask
    assert (word_mask.hard, word_mask.temperature, word_mask.hidden.out_features) == (True, 1.0, 400)


def test_train_and_evaluate_through_the_cli(tmp_path):
    run = tmp_path / "flat"
    in_process("train", CONFIG, "-s", run, "-o", '{"trainer.num_epochs": 1}', env={"METHOD": "vanilla"})
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("training_flat_substituted", "training_flat_importance_loss", "training_flat_entropy", "test_f1"):
        assert key in metrics, key
    output = tmp_path / "evaluation.json"
    in_process("evaluate", run / "model.tar.gz", "fixtures/sst/test.txt", "--output-file", output)
    evaluated = json.loads(output.read_text())  # the archive's model on the file training tested it on
    assert evaluated["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert evaluated["f1"] == pytest.approx(metrics["test_f1"], abs=1e-6)


@pytest.mark.parametrize("key, value, message", [
    ("temperature", 0, "model.temperature must be a finite number > 0, got 0"),
    ("entropy_weight", -1, "model.entropy_weight must be a finite number >= 0, got -1"),
    ("importance_weight", -1, "model.importance_weight must be a finite number >= 0, got -1"),
    ("substitution_rate", 1.5, "model.substitution_rate must be in [0, 1], got 1.5"),
    ("max_synonyms", 0, "model.max_synonyms must be >= 1, got 0"),
])
def test_bad_hyperparameters_are_refused(monkeypatch, key, value, message):
    with pytest.raises(ConfigurationError) as error:
        flat_model(monkeypatch, **{key: value})
    assert error.value.message == message


@pytest.mark.parametrize("key, value", [("substitution_rate", 0.0), ("substitution_rate", 1.0), ("max_synonyms", 1)])
def test_the_bounds_of_the_hyperparameters_are_accepted(monkeypatch, key, value):
    assert getattr(flat_model(monkeypatch, **{key: value}), key) == value


def flat_model(monkeypatch, **keys):
    return model_of_config(CONFIG, monkeypatch, **keys)


def test_the_defaults_are_the_documented_ones_and_the_rest_reaches_the_classifier(monkeypatch):
    keys = ("mask_hidden_dim", "temperature", "hard_masks", "entropy_weight", "importance_weight", "substitution_rate",
            "max_synonyms", "word_masks")
    model = flat_model(monkeypatch, drop=keys)
    word_mask = model._word_mask
    assert (word_mask.hidden.out_features, word_mask.temperature, word_mask.hard) == (100, 0.5, False)
    assert (model.entropy_weight, model.importance_weight, model.substitution_rate, model.max_synonyms) == (
        0.1, 0.001, 0.25, 8)
    assert (model._namespace, model._label_namespace) == ("tokens", "labels")
    assert model._positive_index == model.vocab.get_token_index("positive", "labels")
    given = flat_model(monkeypatch, mask_hidden_dim=3, temperature=2.0, hard_masks=True)
    assert (given._word_mask.hidden.out_features, given._word_mask.temperature, given._word_mask.hard) == (3, 2.0, True)
    other = flat_model(monkeypatch, positive_label="negative", namespace="words", label_namespace="sentiment_labels",
                       regularizer={"regexes": [["_attention.*", {"type": "l2", "alpha": 0.5}]]})
    assert (other._namespace, other._label_namespace) == ("words", "sentiment_labels")
    assert other._positive_index == other.vocab.get_token_index("negative", "sentiment_labels")
    assert other.get_regularization_penalty() > 0


def substitutions_by_hand(token_ids, embeddings, gradient, weight, synonyms, mask, rate):
    """FLAT's x', one instance and one word at a time: each word's synonym with the largest
    first-order loss increase (w_s − e_t)·∂L/∂e_t, and the ⌈rate·n⌉ words with the largest positive
    increases substituted."""
    adversarial, substituted = token_ids.clone(), torch.zeros_like(mask)
    for row in range(len(token_ids)):
        gains = []
        for position in mask[row].nonzero().squeeze(1).tolist():
            word = int(token_ids[row, position])
            options = [(float((weight[s] - embeddings[row, position]) @ gradient[row, position]), s) for s in synonyms[word]]
            if options and max(options)[0] > 0:
                gains.append((*max(options), position))
        for _, synonym, position in sorted(gains, reverse=True)[:math.ceil(rate * int(mask[row].sum()))]:
            adversarial[row, position], substituted[row, position] = synonym, True
    return adversarial, substituted


class TestFlatAdversarialBaseline(SstModelCase):
    """FLAT's "-adv" row: the same x' as FLAT, no word masks, FLAT's Eq. 5."""

    CONFIG, BATCH_SIZE = "fixtures/sst_flat_adv_tiny.jsonnet", 16

    def test_it_has_no_word_masks(self):
        assert self.model._word_mask is None
        assert not any(name.startswith("_word_mask") for name, _ in self.model.named_parameters())

    def test_training_loss_is_eq5_on_flats_substitutes(self):
        model, batch = self.model, self.batch()
        model.train()
        synonyms = fixed_synonyms(model.vocab.get_vocab_size("tokens"))
        model._wordnet_tables[("synonym", model.max_synonyms)] = table_of(synonyms, model.max_synonyms)
        output = model(**batch)
        output["loss"].backward()
        parameters = dict(model.named_parameters())
        model_gradients = {name: p.grad.clone() for name, p in parameters.items()}

        tokens, label = batch["tokens"], batch["label"]
        mask = util.get_text_field_mask(tokens)
        target = (label == model._positive_index).float()

        def loss_of(embeddings):
            states = model._encoder(embeddings, mask)
            weights = masked_attention_weights(model._attention.scores(states), mask)
            prediction = model._decoder((weights.unsqueeze(-1) * states).sum(1)).squeeze(-1)
            return torch.nn.functional.binary_cross_entropy_with_logits(prediction, target)

        embeddings = model._text_field_embedder(tokens)
        clean = loss_of(embeddings)
        (gradient,) = torch.autograd.grad(clean, embeddings, retain_graph=True)
        (embedder,) = model._text_field_embedder._token_embedders.values()
        adversarial_ids, substituted = substitutions_by_hand(
            util.get_token_ids_from_text_field_tensors(tokens), embeddings.detach(), gradient, embedder.weight.detach(),
            synonyms, mask, model.substitution_rate,
        )
        assert substituted.any()
        expected = clean + loss_of(embedder.weight[adversarial_ids])
        torch.testing.assert_close(output["loss"], expected)
        for name, expected_gradient in zip(parameters, torch.autograd.grad(expected, list(parameters.values()))):
            torch.testing.assert_close(model_gradients[name], expected_gradient, rtol=1e-5, atol=1e-6, msg=name)

    def test_its_substitutes_are_the_synonym_attacks_candidates(self):
        """x' replaces words only by candidates the synonym attack (PWWS) may use for them: the same
        in-vocabulary WordNet synonyms (`in_vocabulary`, what `allennlp attack` draws from)."""
        from attention_perturb.substitutions.wordnet import shared_substitutions

        model, batch = self.model, self.batch()
        model.train()
        text = model.embed(batch["tokens"])
        loss = model.loss(model.masked_forward(text)["logits"], batch["label"])
        adversarial, substituted, _ = model.adversarial_text(text, loss)
        assert substituted.any()
        attack = shared_substitutions()
        for original, replacement in zip(text.token_ids[substituted].tolist(), adversarial.token_ids[substituted].tolist()):
            word = self.vocab.get_token_from_index(original, "tokens")
            assert replacement in attack.in_vocabulary(word, original, "synonym", self.vocab, "tokens"), word
        assert torch.all(substituted.sum(1) <= torch.ceil(model.substitution_rate * text.mask.sum(1)))


def test_the_shipped_adv_config_is_flat_without_masks_on_flats_substitutes(monkeypatch):
    flat, adv = (Params.from_file(f"training_configs/sst_{name}.jsonnet").as_dict() for name in ("flat", "flat_adv"))
    assert adv["model"].pop("word_masks") is False and flat["model"].pop("word_masks") is True
    for key in ("entropy_weight", "importance_weight"):  # no effect without masks (φ = 1): set to 0 to say so
        assert adv["model"].pop(key) == 0.0
        flat["model"].pop(key)
    assert adv == flat  # the same data, classifier, substitution rate, synonyms and trainer
