import pytest
import torch
from allennlp.common import Params
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch, Vocabulary
from allennlp.models import Model
from allennlp.nn import util

from attention_perturb.modules.attention import masked_attention_weights
from tests.conftest import METHODS
from tests.models.sst_model_case import model_of_config

CONFIG = "fixtures/sst_tiny.jsonnet"
ATTENTION_METHODS = ["attention_rp", "attention_at", "attention_iat"]
WORD_METHODS = ["word_at", "word_iat"]


class TestAttentionClassifier(ModelTestCase):
    def configure(self, monkeypatch, method):
        monkeypatch.setenv("METHOD", method)
        self.set_up_model(CONFIG, "fixtures/sst/train.txt", seed=7)

    def training_batch(self, size=8):
        batch = Batch(self.instances[:size])
        batch.index_instances(self.vocab)
        return batch.as_tensor_dict()

    @pytest.mark.parametrize("method", METHODS)
    def test_can_train_save_and_load(self, monkeypatch, method):
        self.configure(monkeypatch, method)
        # Unshuffled batches, so the trained and the reloaded model see the same first batch.
        self.ensure_model_can_train_save_and_load(
            self.param_file, seed=7, overrides='{"data_loader.batch_sampler.shuffle": false}'
        )

    @pytest.mark.parametrize("method", METHODS)
    def test_training_step_gradient_equals_independent_autograd_of_eq20(self, monkeypatch, method):
        """The model's loss.backward() must equal ∇θ[L(x) + λ·L(x + δ)] with δ held fixed, where the
        adversarial pass is recomputed here from the raw embeddings, without the model's reuse of
        encoder states, and δ is written out from the papers' definitions (`first_principles_delta`),
        not taken from the package's perturbations or its embedding matrix."""
        self.configure(monkeypatch, method)
        model, batch = self.model, self.training_batch()
        model.train()
        weight = 0.5
        model._adversarial_weight = weight
        torch.manual_seed(11)
        model.zero_grad()
        model(**batch)["loss"].backward()
        model_gradients = {name: p.grad.clone() for name, p in model.named_parameters()}

        tokens, label = batch["tokens"], batch["label"]
        mask = util.get_text_field_mask(tokens)
        token_ids = util.get_token_ids_from_text_field_tensors(tokens)
        parameters = dict(model.named_parameters())

        def loss_from(embeddings, score_delta=None):
            states = model._encoder(embeddings, mask)
            scores = model._attention.scores(states)
            if score_delta is not None:
                scores = scores + score_delta
            pooled = (masked_attention_weights(scores, mask).unsqueeze(-1) * states).sum(1)
            target = (label == model._positive_index).float()
            logits = model._decoder(pooled).squeeze(-1)
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, target), scores

        torch.manual_seed(11)
        embeddings = model._text_field_embedder(tokens)
        clean, scores = loss_from(embeddings)
        total = clean
        epsilon = model.perturbation.epsilon
        if method in ATTENTION_METHODS:
            gradient = torch.autograd.grad(clean, scores, retain_graph=True)[0]
            delta = first_principles_delta(method, epsilon, scores.detach(), gradient, mask)
            total = clean + weight * loss_from(embeddings, score_delta=delta)[0]
        elif method in WORD_METHODS:
            gradient = torch.autograd.grad(clean, embeddings, retain_graph=True)[0]
            (embedder,) = model._text_field_embedder._token_embedders.values()
            delta = first_principles_delta(method, epsilon, embeddings.detach(), gradient, mask, token_ids=token_ids,
                                           weight=embedder.weight.detach(), neighbours=15)
            total = clean + weight * loss_from(embeddings + delta)[0]
        reference = torch.autograd.grad(total, list(parameters.values()), retain_graph=True)
        for (name, _), expected in zip(parameters.items(), reference):
            torch.testing.assert_close(model_gradients[name], expected, rtol=1e-5, atol=1e-6, msg=name)
        if method != "vanilla":
            assert not torch.allclose(
                model_gradients["_decoder.weight"], torch.autograd.grad(clean, parameters["_decoder.weight"])[0]
            ), "the adversarial term changed nothing"

    @pytest.mark.parametrize("method", METHODS)
    def test_encoder_runs_once_for_attention_methods_twice_for_word_methods(self, monkeypatch, method):
        self.configure(monkeypatch, method)
        calls = []
        self.model._encoder.register_forward_hook(lambda *args: calls.append(1))
        self.model.train()
        self.model(**self.training_batch())["loss"].backward()
        assert len(calls) == (2 if method in WORD_METHODS else 1)

    def test_padding_gets_no_attention_and_batching_does_not_change_predictions(self, monkeypatch):
        self.configure(monkeypatch, "attention_iat")
        self.model.eval()
        batch = self.training_batch(size=20)
        output = self.model(**batch)
        mask = util.get_text_field_mask(batch["tokens"])
        assert torch.all(output["attention"][~mask] == 0)
        torch.testing.assert_close(output["attention"].sum(1), torch.ones(len(mask)))
        self.ensure_batch_predictions_are_consistent(keys_to_ignore=["words", "token_ids"])

    def test_reports_training_statistics_only_when_perturbed(self, monkeypatch):
        self.configure(monkeypatch, "attention_at")
        self.model.train()
        output = self.model(**self.training_batch())
        assert output["perturbation_norm"].item() == pytest.approx(1.0, rel=1e-4)  # AT: ‖r‖ = ε
        torch.testing.assert_close(
            output["loss"], output["clean_loss"] + output["adversarial_loss"], rtol=1e-5, atol=1e-6
        )
        self.model.eval()
        output = self.model(**self.training_batch())
        assert "adversarial_loss" not in output

    @pytest.mark.parametrize("method", ["attention_iat", "word_at"])
    def test_clean_loss_weight_two_adds_the_clean_gradient_once_more(self, monkeypatch, method):
        """The released code's step: ∇θ L left in the parameters by its inner backward, then
        ∇θ(L + λ·L_adv) added by the trainer's. With `clean_loss_weight` 2 the model's gradient is
        that sum; with λ = 0 and weight 1 it is ∇θ L alone (the same perturbation draws each time)."""
        self.configure(monkeypatch, method)
        model, batch = self.model, self.training_batch()
        model.train()

        def gradients(clean_weight, adversarial_weight):
            model._clean_loss_weight, model._adversarial_weight = clean_weight, adversarial_weight
            torch.manual_seed(5)
            model.zero_grad()
            model(**batch)["loss"].backward()
            return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

        released, ours, clean = gradients(2.0, 1.0), gradients(1.0, 1.0), gradients(1.0, 0.0)
        for name in ours:
            torch.testing.assert_close(released[name], ours[name] + clean[name], rtol=1e-5, atol=1e-6, msg=name)
        assert not torch.allclose(released["_decoder.weight"], ours["_decoder.weight"])

    def test_binary_probabilities_follow_the_positive_label(self, monkeypatch):
        self.configure(monkeypatch, "vanilla")
        self.model.eval()
        output = self.model(**self.training_batch())
        positive = self.vocab.get_token_index("positive", "labels")
        torch.testing.assert_close(output["probs"][:, positive], torch.sigmoid(output["logits"].squeeze(-1)))
        readable = self.model.make_output_human_readable(output)
        assert set(readable["label"]) <= {"positive", "negative"}

    def test_positive_class_weight_is_the_hand_computed_weighted_bce(self, monkeypatch):
        self.configure(monkeypatch, "vanilla")
        logits = torch.tensor([[2.0], [-1.0], [0.5]])
        positive = self.model._positive_index
        labels = torch.tensor([positive, 1 - positive, positive])
        weight = 0.8
        self.model._positive_class_weight = weight

        def log_sigmoid(x):
            return -torch.log1p(torch.exp(-torch.tensor(x)))

        # −[w·y·log σ(z) + (1 − y)·log(1 − σ(z))], averaged: y = 1, 0, 1.
        expected = -(weight * log_sigmoid(2.0) + log_sigmoid(1.0) + weight * log_sigmoid(0.5)) / 3
        torch.testing.assert_close(self.model.loss(logits, labels), expected)
        self.model._positive_class_weight = None
        assert not torch.allclose(self.model.loss(logits, labels), expected)

    @pytest.mark.parametrize("detach_attention", [False, True])
    def test_the_interpret_interface_sums_the_losses_and_reads_each_labels_probability(self, monkeypatch,
                                                                                         detach_attention):
        """What the importance measures call: `predicted_label_loss` is Σ_b L(x_b, y_b) (each instance's
        gradient its own at any batch size), with the attention detached or not as asked, and
        `label_probabilities` each instance's probability of the label it is given."""
        self.configure(monkeypatch, "vanilla")
        self.model.eval()
        tensors = self.training_batch()
        labels = tensors["label"]
        text = self.model.embed(tensors["tokens"])
        embeddings = text.embeddings.detach().requires_grad_()
        embedded = {"tokens": text._replace(embeddings=embeddings)}
        loss = self.model.predicted_label_loss(embedded, labels, detach_attention=detach_attention)
        logits = self.model.logits_of(embedded, detach_attention)
        one_at_a_time = sum(self.model.loss(logits[b:b + 1], labels[b:b + 1]) for b in range(len(labels)))
        torch.testing.assert_close(loss, one_at_a_time)
        (gradient,) = torch.autograd.grad(loss, embeddings)
        (expected,) = torch.autograd.grad(one_at_a_time, embeddings)
        torch.testing.assert_close(gradient, expected)
        other_way = self.model.predicted_label_loss(embedded, labels, detach_attention=not detach_attention)
        assert not torch.allclose(torch.autograd.grad(other_way, embeddings)[0], gradient)
        if not detach_attention:  # the default: gradients through the attention too
            by_default = self.model.predicted_label_loss(embedded, labels)
            torch.testing.assert_close(torch.autograd.grad(by_default, embeddings)[0], gradient)
        probabilities = self.model.probabilities(logits)
        rows = torch.arange(len(labels))
        torch.testing.assert_close(self.model.label_probabilities(logits, labels), probabilities[rows, labels])
        torch.testing.assert_close(self.model.label_probabilities(logits, 1 - labels), probabilities[rows, 1 - labels])

    def test_dropping_the_further_agreement_measures_leaves_gradient_x_input_alone(self, monkeypatch):
        from attention_perturb.interpret.word_importance import LeaveOneOut

        self.configure(monkeypatch, "vanilla")
        self.model.use_agreement_measures([LeaveOneOut()])
        assert [measure.name for measure in self.model._agreement_measures] == ["leave_one_out"]
        self.model.drop_further_agreement_measures()
        assert self.model._agreement_measures == []
        self.model.eval()
        with torch.no_grad():
            output = self.model(**self.training_batch())
        assert "gradient_importance" in output and not any(key.endswith("leave_one_out") for key in output)

    def test_bad_positive_class_weight_names_the_key(self, monkeypatch):
        from allennlp.common import Params
        from allennlp.common.checks import ConfigurationError
        from allennlp.models import Model

        self.configure(monkeypatch, "vanilla")
        params = Params.from_file(CONFIG, params_overrides='{"model.positive_class_weight": -1}')
        with pytest.raises(ConfigurationError, match="model.positive_class_weight must be a finite number > 0"):
            Model.from_params(vocab=self.vocab, params=params["model"])

    def test_dropped_unknown_tokens_are_removed_before_embedding(self, monkeypatch):
        from attention_perturb.modules.unknown_tokens import without_unknown_tokens

        unknown = 1
        ids = torch.tensor([[5, 1, 6, 1, 7], [1, 1, 0, 0, 0], [8, 9, 0, 0, 0]])
        compacted = without_unknown_tokens({"tokens": {"tokens": ids}}, unknown)["tokens"]["tokens"]
        # Kept tokens move up in order; a text of unknown tokens only keeps its first one.
        assert compacted.tolist() == [[5, 6, 7], [1, 0, 0], [8, 9, 0]]

        self.configure(monkeypatch, "vanilla")
        self.model.eval()
        oov = self.vocab.get_token_index(self.vocab._oov_token, "tokens")
        known = [self.vocab.get_token_index(word, "tokens") for word in ("the", "film")]
        assert oov not in known
        with_unknown = torch.tensor([[known[0], oov, known[1]]])
        without = torch.tensor([[known[0], known[1]]])
        self.model._drop_unknown_tokens = True
        with torch.no_grad():
            dropped = self.model(tokens={"tokens": {"tokens": with_unknown}})["probs"]
            reference = self.model(tokens={"tokens": {"tokens": without}})["probs"]
            self.model._drop_unknown_tokens = False
            kept = self.model(tokens={"tokens": {"tokens": with_unknown}})["probs"]
        torch.testing.assert_close(dropped, reference)
        assert not torch.allclose(kept, reference)


def test_wordnet_tables_come_from_the_models_namespace_at_the_asked_width(monkeypatch):
    model = model_of_config(CONFIG, monkeypatch, namespace="words", vocabulary={
        "labels": {"positive": 1, "negative": 1}, "tokens": {"film": 1}, "words": {"good": 1, "bad": 1, "film": 1}})
    vocab = model.vocab
    table = model.wordnet_table("antonym", 3)
    assert tuple(table.shape) == (vocab.get_vocab_size("words"), 3)
    good, bad = (vocab.get_token_index(word, "words") for word in ("good", "bad"))
    assert bad in table[good].tolist() and good in table[bad].tolist()


def classifier_with_labels(monkeypatch, labels, **settings):
    """The tiny config's attention classifier over three words, with `labels` in this order."""
    vocabulary = {"labels": dict.fromkeys(labels, 1), "tokens": {"a": 1, "b": 1, "c": 1}}
    return model_of_config(CONFIG, monkeypatch, vocabulary=vocabulary, **settings).eval()


TOKENS = {"tokens": {"tokens": torch.tensor([[2, 3, 0], [4, 2, 3]])}}
METADATA = [{"words": ["a", "b"]}, {"words": ["c", "a", "b"]}]


def test_more_than_two_classes_take_a_softmax_and_the_cross_entropy(monkeypatch):
    model = classifier_with_labels(monkeypatch, ["world", "sports", "business", "science"])
    with torch.no_grad():
        logits = model(tokens=TOKENS)["logits"]
        label = logits.argmin(-1)  # every prediction wrong, then every one right
        output = model(tokens=TOKENS, label=label, metadata=METADATA)
        right = model(tokens=TOKENS, label=logits.argmax(-1))
    assert logits.shape == (2, 4)
    torch.testing.assert_close(output["probs"], torch.softmax(logits, dim=-1))
    torch.testing.assert_close(output["loss"], torch.nn.functional.cross_entropy(logits, label))
    assert torch.equal(model.predicted_labels(logits), logits.argmax(-1))
    assert torch.equal(output["token_ids"], TOKENS["tokens"]["tokens"]) and output["words"] == [["a", "b"], ["c", "a", "b"]]
    assert right["loss"] < output["loss"]
    metrics = model.get_metrics(reset=True)
    assert metrics["accuracy"] == 0.5 and "f1" not in metrics
    with torch.no_grad():
        model(tokens=TOKENS, label=label)
    assert model.get_metrics()["accuracy"] == 0.0  # the earlier batches' counts were reset


@pytest.mark.parametrize("labels", [["negative", "positive"], ["positive", "negative"]])
def test_two_classes_put_the_sigmoid_on_the_positive_labels_column(monkeypatch, labels):
    model = classifier_with_labels(monkeypatch, labels)
    positive = labels.index("positive")
    with torch.no_grad():
        logits = model(tokens=TOKENS)["logits"]
        probs = model.probabilities(logits)
    torch.testing.assert_close(probs[:, positive], torch.sigmoid(logits).squeeze(-1))
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))


def test_the_classifiers_defaults(monkeypatch):
    model = model_of_config(CONFIG, monkeypatch, drop=("adversarial_weight", "padded_agreement", "namespace",
                                                      "agreement_top_k"))
    assert (model._adversarial_weight, model._padded_agreement, model._namespace, model._agreement_top_k) == (
        1.0, False, "tokens", 5)


def test_the_clean_loss_weight_reaches_the_model(monkeypatch):
    assert model_of_config(CONFIG, monkeypatch, clean_loss_weight=2.5)._clean_loss_weight == 2.5


@pytest.mark.parametrize("labels, weight, message", [
    (["world", "sports", "business"], 2.0, "model.positive_class_weight: only for two labels (one-logit BCE)"),
    (["negative", "positive"], 0.0, "model.positive_class_weight must be a finite number > 0, got 0.0"),
    (["negative", "positive"], float("inf"), "model.positive_class_weight must be a finite number > 0, got inf"),
])
def test_a_positive_class_weight_it_cannot_use_is_refused_in_one_line(monkeypatch, labels, weight, message):
    from allennlp.common.checks import ConfigurationError

    with pytest.raises(ConfigurationError) as error:
        classifier_with_labels(monkeypatch, labels, positive_class_weight=weight)
    assert str(error.value).strip("'\"") == message


@pytest.mark.parametrize("method", WORD_METHODS)
def test_a_parameter_the_loss_does_not_reach_leaves_the_word_perturbation_step_as_it_was(monkeypatch, method):
    """A model may hold a parameter its loss never reaches (an unused module of a config): the
    word methods' one backward pass through the encoder skips it, and every other gradient is the
    one the model has without it."""
    def trained_gradients(extra):
        torch.manual_seed(5)
        model = classifier_with_labels(monkeypatch, ["negative", "positive"], perturbation={
            "word_at": {"type": "word_adversarial", "epsilon": 1.0},
            "word_iat": {"type": "word_interpretable", "epsilon": 1.0, "num_neighbours": 2}}[method]).train()
        if extra:
            model.register_parameter("unused", torch.nn.Parameter(torch.ones(3)))
        torch.manual_seed(6)
        model(tokens=TOKENS, label=torch.tensor([0, 1]))["loss"].backward()
        return {name: parameter.grad for name, parameter in model.named_parameters()}

    with_unused, without = trained_gradients(True), trained_gradients(False)
    assert with_unused.pop("unused") is None
    assert with_unused.keys() == without.keys()
    for name, gradient in without.items():
        torch.testing.assert_close(with_unused[name], gradient, msg=name)


def test_a_further_measure_is_computed_for_the_predicted_labels_and_agrees_by_its_own_name(monkeypatch):
    """In evaluation each configured measure adds importance_<name>, its per-instance agreements
    with the attention and their metrics: the measure's own output for the predicted labels."""
    from attention_perturb.interpret.agreement import kendall_per_instance, pearson_per_instance, top_k_overlap_per_instance
    from attention_perturb.interpret.word_importance import GradientNorm

    torch.manual_seed(1)  # a model that predicts labels 1 and 2
    # Three labels: with one logit every label's gradient is the same direction, and its norm the same importance.
    model = classifier_with_labels(monkeypatch, ["world", "sports", "science"], agreement_measures=[{"type": "gradient_norm"}],
                                   agreement_top_k=1, padded_agreement=True)  # both texts are longer than k
    with torch.no_grad():
        output = model(tokens=TOKENS, label=torch.tensor([0, 2]))
    with torch.enable_grad():
        embedded = {"tokens": model.embed(TOKENS)}
        predicted = output["logits"].argmax(-1)
        expected = GradientNorm()(model, embedded, predicted)
    assert predicted.tolist() == [1, 2]
    torch.testing.assert_close(output["importance_gradient_norm"], expected.detach())
    # The agreements of the model's own importance (a correlation can amplify float32 rounding).
    mask = TOKENS["tokens"]["tokens"] > 0
    attention, importance = output["attention"].double(), output["importance_gradient_norm"].double()
    for name, values in (("pearson", pearson_per_instance(attention, importance, mask)),
                         ("kendall", kendall_per_instance(attention, importance, mask)),
                         ("top1", top_k_overlap_per_instance(attention, importance, mask, 1)),
                         # over the padding too (attention and importance are 0 there)
                         ("pearson_padded", pearson_per_instance(attention, importance, torch.ones_like(mask)))):
        torch.testing.assert_close(output[f"attention_{name}_gradient_norm"], values, msg=name)
        assert model.get_metrics()[f"{name}_gradient_norm"] == pytest.approx(values.mean().item()), name
    padded = pearson_per_instance(attention, output["gradient_importance"].double(), torch.ones_like(mask))
    torch.testing.assert_close(output["attention_pearson_padded"], padded)
    assert not torch.allclose(padded, pearson_per_instance(attention, output["gradient_importance"].double(), mask))
    assert not torch.allclose(output["importance_gradient_norm"], output["gradient_importance"].abs())


def classifier_from_parts(monkeypatch, **settings):
    """An attention classifier built in Python from a tiny model's modules, with `settings` (objects
    a config could not pass, and values its parser would convert)."""
    from attention_perturb.models import AttentionClassifier

    model = classifier_with_labels(monkeypatch, ["negative", "positive"])
    return AttentionClassifier(model.vocab, model._text_field_embedder, model._encoder, model._attention, **settings)


def test_a_perturbation_with_a_target_no_model_has_is_refused_when_the_model_is_built(monkeypatch):
    from allennlp.common.checks import ConfigurationError

    from attention_perturb.perturbations import Perturbation

    class OnTheLogits(Perturbation):
        target = "logits"

    with pytest.raises(ConfigurationError) as refused:
        classifier_from_parts(monkeypatch, perturbation=OnTheLogits())
    assert str(refused.value).strip("'\"") == (
        "model.perturbation: OnTheLogits adds δ to 'logits'; a model adds it to 'attention' or 'embedding' "
        "(or trains without, None)")
    for target in (None, "attention", "embedding"):
        OnTheLogits.target = target
        assert classifier_from_parts(monkeypatch, perturbation=OnTheLogits())._perturbation.target == target


def test_an_evaluation_that_measures_no_agreement_builds_no_graph(monkeypatch):
    """Gradients are turned on only to measure the agreement: without it, an evaluation under
    no_grad stays without a graph (validation with the agreement off costs no backward memory)."""
    model = classifier_with_labels(monkeypatch, ["negative", "positive"])
    model.measure_agreement = False
    with torch.no_grad():
        output = model(tokens=TOKENS, label=torch.tensor([0, 1]))
    assert "gradient_importance" not in output
    assert not any(value.requires_grad for value in output.values() if isinstance(value, torch.Tensor))


@pytest.mark.parametrize("setting, value, message", [
    ("adversarial_weight", -1.0, "model.adversarial_weight must be a finite number >= 0, got -1.0"),
    ("clean_loss_weight", -0.5, "model.clean_loss_weight must be a finite number >= 0, got -0.5"),
    ("agreement_top_k", 0, "model.agreement_top_k must be an integer >= 1, got 0"),
    ("agreement_top_k", 2.5, "model.agreement_top_k must be an integer >= 1, got 2.5"),
    ("agreement_measures", "twice", "model.agreement_measures: a measure is named twice in "
                                    "['gradient_norm', 'leave_one_out', 'gradient_norm']"),
])
def test_a_weight_or_k_the_model_cannot_use_is_refused_in_one_line_naming_its_key(monkeypatch, setting, value, message):
    from allennlp.common.checks import ConfigurationError

    from attention_perturb.interpret.word_importance import GradientNorm, LeaveOneOut

    if value == "twice":
        value = [GradientNorm(), LeaveOneOut(), GradientNorm()]
    with pytest.raises(ConfigurationError) as refused:
        classifier_from_parts(monkeypatch, **{setting: value})
    assert str(refused.value).strip("'\"") == message


def test_the_agreement_metrics_reset_with_the_others(monkeypatch):
    model = classifier_with_labels(monkeypatch, ["negative", "positive"])
    first_batch = {"tokens": {"tokens": torch.tensor([[2, 3, 4, 3], [4, 2, 3, 3]])}}
    other = {"tokens": {"tokens": torch.tensor([[3, 4, 2, 2], [4, 4, 3, 2]])}}
    with torch.no_grad():  # as allennlp evaluates: the agreement is measured then
        model(tokens=first_batch, label=torch.tensor([0, 1]))
        first = model.get_metrics(reset=True)["pearson"]
        model(tokens=other, label=torch.tensor([1, 0]))
        second = model.get_metrics(reset=True)["pearson"]
        model(tokens=other, label=torch.tensor([1, 0]))
    assert second != first and model.get_metrics(reset=True)["pearson"] == pytest.approx(second)


def test_term_metrics_reset_only_when_asked(monkeypatch):
    model = classifier_with_labels(monkeypatch, ["negative", "positive"])
    model.average_term("term", 2.0)
    assert model.term_metrics() == {"term": 2.0} and model.term_metrics() == {"term": 2.0}
    assert model.term_metrics(reset=True) == {"term": 2.0} and model.term_metrics() == {}


def test_embedding_rows_of_a_plain_embedding(monkeypatch):
    model = classifier_with_labels(monkeypatch, ["negative", "positive"], text_field_embedder={
        "token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}})
    (embedder,) = model._text_field_embedder._token_embedders.values()
    assert model.embedding_rows() is embedder.weight
    ids = torch.tensor([[2, 4], [3, 0]])
    assert torch.equal(model.embedding_rows(ids), embedder.weight[ids])


def first_principles_delta(method, epsilon, values, gradient, mask, token_ids=None, weight=None, neighbours=None):
    """δ of each method, one instance and one token at a time, from the papers' definitions:
    - Word AT (Miyato) and Attention AT (Eq. 10-12): ε·g/‖g‖₂ over the instance's valid positions;
    - Attention RP: ε·u/‖u‖₂, u ~ N(0, I) drawn as the model draws it (same seed, same shape);
    - Attention iAT (Eq. 13-19, sentence normalisation): d = ã_t − ã_k over the valid tokens scaled to
      unit norm per sentence, α = ε·ĝ/‖ĝ‖₂ with ĝ_{t,k} = g_t·d_{t,k}, δ_t = Σ_k α_{t,k} d_{t,k};
    - Word iAT (Sato): the standardised matrix (each dimension over the rows but padding's, unbiased
      std) computed here, each word's `neighbours` nearest other words by brute force (padding
      excluded), unit directions d_{t,k} = (w_k − w_t)/‖w_k − w_t‖, α as above, δ_t = Σ_k α_{t,k} d_{t,k}.
    """
    noise = torch.randn_like(values) if method == "attention_rp" else None
    delta = torch.zeros_like(values)
    if method == "word_iat":
        mean, std = weight[1:].mean(0), weight[1:].std(0)
        matrix = (weight - mean) / std
        distances = torch.cdist(matrix, matrix)
        distances[:, 0] = float("inf")  # padding is no neighbour
        distances.fill_diagonal_(float("inf"))  # nor is the word itself
        table = distances.topk(neighbours, dim=1, largest=False).indices
    for b in range(len(values)):
        valid = mask[b].nonzero().squeeze(1)
        if method in ("word_at", "attention_at"):
            g = gradient[b, valid]
            delta[b, valid] = epsilon * g / g.norm()
        elif method == "attention_rp":
            u = noise[b, valid]
            delta[b, valid] = epsilon * u / u.norm()
        elif method == "attention_iat":
            s = values[b, valid]
            d = s.unsqueeze(1) - s.unsqueeze(0)
            d = d / d.norm()
            g = gradient[b, valid].unsqueeze(1) * d
            alpha = epsilon * g / g.norm()
            delta[b, valid] = (alpha * d).sum(1)
        elif method == "word_iat":
            directions = []
            for t in valid.tolist():
                differences = matrix[table[token_ids[b, t]]] - values[b, t]
                directions.append(differences / differences.norm(dim=1, keepdim=True))
            g = torch.stack([d @ gradient[b, t] for d, t in zip(directions, valid.tolist())])
            alpha = epsilon * g / g.norm()
            for i, t in enumerate(valid.tolist()):
                delta[b, t] = alpha[i] @ directions[i]
    return delta
