import functools
import http.server
import json
import math
import shutil
import threading

import pytest
import torch
from allennlp.common import Params
from allennlp.common import file_utils
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.models.archival import load_archive
from allennlp.nn import util

from attention_perturb.data.dataset_readers.sst import SstTreesReader
from attention_perturb.interpret.agreement import top_k_overlap_per_instance
from attention_perturb.models.seat_classifier import prediction_divergence, projected_gradient_ascent, top_k_surrogate_loss
from attention_perturb.modules.attention import masked_attention_weights
from tests.archives import archive_without_attention, train_tiny, vanilla_archive  # noqa: F401  (fixtures)
from tests.cli import in_process
from tests.devices import on_the_first_gpu
from tests.models.sst_model_case import SstModelCase, model_of_config

CONFIG = "fixtures/sst_seat_tiny.jsonnet"


def test_prediction_divergence_is_the_cross_entropy_to_the_target_distribution():
    predicted = torch.tensor([[0.2, 0.8], [0.6, 0.4]])
    target = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    expected = (-(0.5 * math.log(0.2) + 0.5 * math.log(0.8)) - math.log(0.6)) / 2
    assert prediction_divergence(predicted, target).item() == pytest.approx(expected, rel=1e-6)
    # Three instances: the mean is over instances, the sum over labels.
    third = torch.tensor([[0.9, 0.1]]), torch.tensor([[0.0, 1.0]])
    three = prediction_divergence(torch.cat([predicted, third[0]]), torch.cat([target, third[1]])).item()
    assert three == pytest.approx((2 * expected - math.log(0.1)) / 3, rel=1e-6)
    # Two classes: exactly binary cross entropy on the positive probability.
    bce = torch.nn.functional.binary_cross_entropy(predicted[:, 1], target[:, 1])
    assert prediction_divergence(predicted, target).item() == pytest.approx(bce.item(), rel=1e-6)


def test_top_k_surrogate_and_overlap_by_hand():
    vanilla = torch.tensor([[0.5, 0.3, 0.2, 0.0], [1.0, 0.0, 0.0, 0.0]])
    stable = torch.tensor([[0.2, 0.3, 0.5, 0.0], [0.6, 0.0, 0.0, 0.0]], requires_grad=True)
    mask = torch.tensor([[True, True, True, False], [True, False, False, False]])
    # Instance 1, k = 2: T_k(w) = {0, 1}: |0.5-0.2| + 0 = 0.3; T_k(w̃) = {2, 1}: 0.3 + 0; / (2·2).
    # Instance 2 has one token: k is capped at 1, its own length: (0.4 + 0.4) / (2·1).
    loss = top_k_surrogate_loss(vanilla, stable, mask, k=2)
    assert loss.item() == pytest.approx((0.6 / 4 + 0.8 / 2) / 2)
    (gradient,) = torch.autograd.grad(loss, stable)
    # Only w̃'s values on the two top-k sets get gradient: ±1/(2k)/batch where they differ.
    torch.testing.assert_close(gradient, torch.tensor([[-0.125, 0.0, 0.125, 0.0], [-0.5, 0.0, 0.0, 0.0]]))
    torch.testing.assert_close(top_k_overlap_per_instance(vanilla, stable.detach(), mask, k=2, short_texts="capped"), torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(top_k_overlap_per_instance(vanilla, vanilla, mask, k=2, short_texts="capped"), torch.tensor([1.0, 1.0]))


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projected_gradient_ascent_never_leaves_the_ball_and_finds_the_linear_maximum(norm):
    direction = torch.tensor([[3.0, 4.0, 7.0], [0.0, -2.0, 0.5]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    radius = 0.5
    iterates = list(projected_gradient_ascent(
        lambda delta: (delta * direction).sum(), direction.shape, mask, radius, steps=6, step_size=0.2, norm=norm
    ))
    assert len(iterates) == 6
    for delta in iterates:
        size = delta.abs().amax(dim=1) if norm == "linf" else delta.norm(dim=1)
        assert torch.all(size <= radius * (1 + 1e-6))
        assert torch.all(delta[~mask] == 0)
    # max over ‖δ‖ ≤ R of ⟨δ, c⟩ on the valid positions: R·sign(c) for L∞, R·c/‖c‖₂ for L2.
    valid = direction * mask
    expected = radius * (valid.sign() if norm == "linf" else valid / valid.norm(dim=1, keepdim=True))
    torch.testing.assert_close(iterates[-1], expected)


class TestSeatClassifier(SstModelCase):
    CONFIG = CONFIG

    def environment(self, request):
        self.vanilla_archive = request.getfixturevalue("vanilla_archive")
        return {"VANILLA_ARCHIVE": self.vanilla_archive}

    def test_starts_as_the_vanilla_model_and_trains_only_the_attention(self):
        vanilla = load_archive(self.vanilla_archive).model.eval()
        self.model.eval()
        batch = self.batch()
        with torch.no_grad():
            torch.testing.assert_close(self.model(**batch)["probs"], vanilla(**batch)["probs"])
        trainable = {name for name, p in self.model.named_parameters() if p.requires_grad}
        assert trainable and all(name.startswith("_attention.") for name in trainable)
        assert self.model.get_metrics()["seat_topk_overlap"] == 1.0
        with torch.no_grad():  # the vanilla scorer is a copy: training w̃ leaves it as it was
            for parameter in self.model._attention.parameters():
                parameter.add_(1.0)
        for trained, kept in zip(self.model._attention.parameters(), self.model._vanilla_attention.parameters()):
            assert not torch.equal(trained, kept)

    def test_training_loss_is_eq6_with_the_pgd_perturbation(self):
        model, batch = self.model, self.batch()
        model.train()
        # Steps short of the radius, so that the number of steps and their size show in δ, and the
        # third step leaves the ball where two steps went the same way (0.4 + 0.4 + 0.4 > 1): the clip shows.
        model.pgd_steps, model.pgd_step_size = 3, 0.4 * model.radius
        model.top_k = 12  # more than some texts' lengths: their overlap is capped at the length
        torch.manual_seed(0)
        with torch.no_grad():  # w̃ away from the vanilla weights it starts from, so that the top-k term counts
            for parameter in model._attention.parameters():
                parameter.add_(0.5 * torch.randn_like(parameter))
        calls = []
        model._encoder.register_forward_hook(lambda *args: calls.append(1))
        output = model(**batch)
        assert len(calls) == 1  # the frozen encoder runs once; PGD re-runs only the decoder

        tokens = batch["tokens"]
        mask = util.get_text_field_mask(tokens)
        states = model._encoder(model._text_field_embedder(tokens), mask)
        stable = masked_attention_weights(model._attention.scores(states), mask)
        vanilla = masked_attention_weights(model._vanilla_attention.scores(states), mask)

        def probabilities(weights, rows=slice(None)):
            positive = torch.sigmoid(model._decoder((weights.unsqueeze(-1) * states[rows]).sum(1)))
            return torch.cat([1 - positive, positive], -1) if model._positive_index == 1 else torch.cat(
                [positive, 1 - positive], -1)

        def d2(delta):
            return prediction_divergence(probabilities(stable), probabilities(stable + delta))

        delta = model.worst_attention_perturbation(model.encode({"tokens": model.embed(tokens)}), stable)
        # SEAT's Algorithm 1 (lines 3-8) written out for one instance at a time, on this test's own D2
        # with w̃ held fixed: from δ = 0, K steps of size η along sign(∇δ D2), each clipped to the L∞ ball.
        assert model.pgd_norm == "linf"
        fixed, independent = stable.detach(), torch.zeros_like(stable)
        for row in range(len(fixed)):
            one = slice(row, row + 1)
            step = torch.zeros_like(fixed[one])
            for _ in range(model.pgd_steps):
                step.requires_grad_(True)
                divergence = prediction_divergence(probabilities(fixed[one], one), probabilities(fixed[one] + step, one))
                (gradient,) = torch.autograd.grad(divergence, step)
                step = (step.detach() + model.pgd_step_size * (gradient * mask[one]).sign()).clamp(-model.radius, model.radius)
            independent[one] = step
        torch.testing.assert_close(delta, independent)
        assert (delta.abs() == model.radius).any()  # clipped to the ball somewhere
        assert torch.all(delta.abs() <= model.radius * (1 + 1e-6))  # the L∞ ball
        assert d2(delta).item() > d2(torch.zeros_like(delta)).item()  # the ascent found a worse δ
        expected = (
            prediction_divergence(probabilities(stable), probabilities(vanilla).detach())
            + model.stability_weight * d2(delta)
            + model.top_k_weight * top_k_surrogate_loss(vanilla, stable, mask, model.top_k)
        )
        torch.testing.assert_close(output["loss"], expected)
        assert top_k_surrogate_loss(vanilla, stable, mask, model.top_k).item() > 0
        torch.testing.assert_close(output["perturbation_norm"], delta.flatten(1).norm(dim=1).mean())
        output["loss"].backward()
        assert all(p.grad is None for name, p in model.named_parameters() if not name.startswith("_attention."))
        metrics = model.get_metrics(reset=True)
        assert {"seat_d1", "seat_d2", "seat_topk_loss", "seat_topk_overlap"} <= set(metrics)
        assert mask.sum(1).min() < model.top_k
        overlaps = top_k_overlap_per_instance(stable.detach(), vanilla, mask, model.top_k, short_texts="capped")
        assert metrics["seat_topk_overlap"] == pytest.approx(overlaps.mean().item())

    def test_the_attention_perturbation_takes_the_models_norm_and_steps(self):
        """δ* lies in the ball of `pgd_norm` (an L∞ step leaves the L2 ball of the same radius), and
        is 0 without steps."""
        model = self.model
        encoded = model.encode({"tokens": model.embed(self.batch()["tokens"])})
        attention = masked_attention_weights(model._attention.scores(encoded.states), encoded.mask)
        model.pgd_steps, model.pgd_step_size = 2, model.radius
        linf = model.worst_attention_perturbation(encoded, attention)
        model.pgd_norm = "l2"
        l2 = model.worst_attention_perturbation(encoded, attention)
        assert linf.abs().max() == pytest.approx(model.radius) and linf.norm(dim=-1).max() > 2 * model.radius
        assert l2.norm(dim=-1).max() == pytest.approx(model.radius)
        model.pgd_steps = 0
        assert torch.equal(model.worst_attention_perturbation(encoded, attention), torch.zeros_like(attention))

    def test_the_frozen_embeddings_take_a_gradient_only_where_saliency_needs_it(self):
        """Training pays for no gradient to the frozen embeddings, nor does evaluation under no_grad;
        evaluation with gradients on (the saliency measures) gets ∂L/∂e."""
        tokens = self.batch()["tokens"]
        self.model.train()
        assert not self.model.embed(tokens).embeddings.requires_grad
        self.model.eval()
        with torch.no_grad():
            assert not self.model.embed(tokens).embeddings.requires_grad
        assert self.model.embed(tokens).embeddings.requires_grad

    @pytest.mark.parametrize("problem, message", [
        ("missing", r"^model\.vanilla_archive: .*missing\.tar\.gz does not exist; train the vanilla model first$"),
        ("none", r"^model\.vanilla_archive is required to train a seat_classifier$"),
    ])
    def test_bad_vanilla_archive(self, problem, message, tmp_path):
        params = Params.from_file(CONFIG).get("model").as_dict()
        params["vanilla_archive"] = str(tmp_path / "missing.tar.gz") if problem == "missing" else None
        if problem == "missing":
            with pytest.raises(ConfigurationError, match=message):
                Model.from_params(vocab=self.vocab, params=Params(params))
            return
        model = Model.from_params(vocab=self.vocab, params=Params(params))
        model.train()
        with pytest.raises(ConfigurationError, match=message):
            model(**self.batch())


def test_a_vanilla_archive_without_attention_is_named(monkeypatch, archive_without_attention):  # noqa: F811
    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setenv("VANILLA_ARCHIVE", archive_without_attention)
    params = Params.from_file(CONFIG)
    message = f"model.vanilla_archive: {archive_without_attention} holds a BasicClassifier, not an attention_classifier"
    with pytest.raises(ConfigurationError) as error:
        Model.from_params(vocab=load_archive(archive_without_attention).model.vocab, params=params["model"])
    assert error.value.message == message


def test_a_vanilla_archive_of_other_data_is_named(monkeypatch, tmp_path):
    """SEAT copies the vanilla model's weights: a vanilla model trained on other data, whose
    vocabulary differs, is refused by name."""
    other = train_tiny(tmp_path / "other_vanilla", overrides={"train_data_path": "fixtures/sst/dev.txt"})
    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setenv("VANILLA_ARCHIVE", other)
    seat = Params.from_file(CONFIG)
    vocab = Vocabulary.from_instances(SstTreesReader().read("fixtures/sst/train.txt"))
    message = (f"model.vanilla_archive: the 'tokens' vocabulary of {other} differs from the one built from this "
               "config's data; train SEAT on the vanilla model's training data")
    with pytest.raises(ConfigurationError) as error:
        Model.from_params(vocab=vocab, params=seat["model"])
    assert error.value.message == message


def test_a_vanilla_archive_of_another_architecture_is_named(monkeypatch, tmp_path):
    """Same data, so the vocabularies agree, but a wider attention scorer: its weights cannot be
    copied, and the error says which archive and why, not only torch's size mismatch."""
    other = train_tiny(tmp_path / "wider_vanilla", overrides={"model.attention.hidden_dim": 7})
    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setenv("VANILLA_ARCHIVE", other)
    vocab = load_archive(other).model.vocab
    with pytest.raises(ConfigurationError) as error:
        Model.from_params(vocab=vocab, params=Params.from_file(CONFIG)["model"])
    assert error.value.message.startswith(f"model.vanilla_archive: {other} does not match this architecture: ")
    assert "size mismatch for _attention" in error.value.message


def test_a_vanilla_archive_at_a_url_is_downloaded(monkeypatch, tmp_path, vanilla_archive):  # noqa: F811
    """A URL is not a missing file: it goes to allennlp's cached_path (here a local HTTP server,
    the download cached in tmp_path)."""
    served = tmp_path / "served"
    served.mkdir()
    shutil.copyfile(vanilla_archive, served / "vanilla.tar.gz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(file_utils, "CACHE_DIRECTORY", str(tmp_path / "cache"))
    url = f"http://127.0.0.1:{server.server_address[1]}/vanilla.tar.gz"
    try:
        monkeypatch.setenv("METHOD", "vanilla")
        monkeypatch.setenv("VANILLA_ARCHIVE", url)
        vanilla = load_archive(vanilla_archive).model
        seat = Model.from_params(vocab=vanilla.vocab, params=Params.from_file(CONFIG)["model"])
    finally:
        server.shutdown()
        server.server_close()
    copied, original = seat._vanilla_attention.state_dict(), vanilla._attention.state_dict()
    assert copied.keys() == original.keys() and all(torch.equal(copied[key], original[key]) for key in original)
    assert any((tmp_path / "cache").iterdir())


def test_train_and_evaluate_through_the_cli(tmp_path, vanilla_archive):  # noqa: F811
    run = tmp_path / "seat"
    started_from = tmp_path / "vanilla.tar.gz"  # a copy, removed once SEAT is trained
    shutil.copyfile(vanilla_archive, started_from)
    in_process("train", CONFIG, "-s", run, "-o", '{"trainer.num_epochs": 1}',
               env={"METHOD": "vanilla", "VANILLA_ARCHIVE": str(started_from)})
    assert json.loads((run / "config.json").read_text())["model"]["vanilla_archive"] == str(started_from)
    started_from.unlink()
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("training_seat_d2", "training_seat_topk_loss", "validation_seat_topk_overlap", "test_f1"):
        assert key in metrics, key
    output = tmp_path / "evaluation.json"
    # The archive holds the trained model: the vanilla archive it started from is not needed any more.
    in_process("evaluate", run / "model.tar.gz", "fixtures/sst/test.txt", "--output-file", output,
               env={"METHOD": "vanilla", "VANILLA_ARCHIVE": str(tmp_path / "gone.tar.gz")})
    evaluated = json.loads(output.read_text())
    assert evaluated["seat_topk_overlap"] == pytest.approx(metrics["test_seat_topk_overlap"], abs=1e-6)
    assert evaluated["f1"] == pytest.approx(metrics["test_f1"], abs=1e-6)
    loaded = on_the_first_gpu(lambda: load_archive(str(run / "model.tar.gz"), cuda_device=0))
    if loaded:
        assert next(loaded.model.parameters()).device == torch.device("cuda", 0)


@pytest.mark.parametrize("key, value, message", [
    ("top_k", 0, "model.top_k must be an integer >= 1"),
    ("radius", -1, "model.radius must be a finite number >= 0"),
    ("pgd_norm", "l3", "model.pgd_norm must be one of linf, l2"),
    ("pgd_steps", -1, "^model.pgd_steps must be an integer >= 0, got -1$"),
    ("stability_weight", -1, "^model.stability_weight must be a finite number >= 0"),
    ("top_k_weight", -1, "^model.top_k_weight must be a finite number >= 0"),
    ("pgd_step_size", -1, "^model.pgd_step_size must be a finite number >= 0"),
])
def test_bad_hyperparameters_are_refused(monkeypatch, key, value, message):
    with pytest.raises(ConfigurationError, match=message):
        seat_without_archive(monkeypatch, **{key: value})


def seat_without_archive(monkeypatch, *, drop=(), **settings):
    """A SEAT model of the tiny config without its vanilla archive (see `model_of_config`)."""
    return model_of_config(CONFIG, monkeypatch, drop=("vanilla_archive", *drop), environment={"VANILLA_ARCHIVE": "unused"},
                           **settings)


def test_the_defaults_are_the_authors_sst_command_and_the_rest_reaches_the_classifier(monkeypatch):
    model = seat_without_archive(monkeypatch, drop=("top_k", "radius", "pgd_norm", "pgd_steps", "stability_weight",
                                                    "top_k_weight"))
    assert (model.top_k, model.radius, model.pgd_norm, model.pgd_steps, model.stability_weight, model.top_k_weight) == (
        7, 0.001, "linf", 10, 1.0, 1000.0)
    assert model.pgd_step_size == pytest.approx(2 * 0.001 / 10)
    assert (model._namespace, model._label_namespace) == ("tokens", "labels")
    assert model._positive_index == model.vocab.get_token_index("positive", "labels")
    without_steps = seat_without_archive(monkeypatch, pgd_steps=0)
    assert without_steps.pgd_steps == 0 and without_steps.pgd_step_size == pytest.approx(2 * without_steps.radius)
    assert seat_without_archive(monkeypatch, pgd_step_size=0.3).pgd_step_size == 0.3
    other = seat_without_archive(monkeypatch, positive_label="negative", namespace="words", label_namespace="sentiment_labels",
                                 regularizer={"regexes": [["_attention.*", {"type": "l2", "alpha": 0.5}]]})
    assert (other._namespace, other._label_namespace) == ("words", "sentiment_labels")
    assert other._positive_index == other.vocab.get_token_index("negative", "sentiment_labels")
    assert other.get_regularization_penalty() > 0
