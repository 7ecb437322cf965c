import json

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.nn import util

from attention_perturb.models.seat_embedding_classifier import total_variation_distance, worst_embedding_perturbation
from tests.cli import in_process
from tests.models.sst_model_case import SstModelCase, model_of_config

CONFIG = "fixtures/sst_seat_embedding_tiny.jsonnet"


class TestSeatEmbeddingClassifier(SstModelCase):
    CONFIG = CONFIG

    def by_hand(self, embeddings, mask):
        """The tiny model's positive-class probability and attention, written out from its modules."""
        model = self.model
        states = model._encoder(embeddings, mask)
        scores = model._attention.scores(states).masked_fill(~mask, -1e30)
        attention = torch.softmax(scores, dim=-1) * mask
        logit = model._decoder((attention.unsqueeze(-1) * states).sum(1)).squeeze(-1)
        return logit, attention

    def test_training_loss_is_the_released_codes_objective(self):
        model, batch = self.model, self.batch()
        model.train()
        model.pgd_steps, model.top_k = 4, 8  # k of 8: longer sentences and some of at most k words
        torch.manual_seed(3)
        output = model(**batch)

        tokens, labels = batch["tokens"], batch["label"]
        mask = util.get_text_field_mask(tokens)
        embeddings = model._text_field_embedder(tokens)
        positive = (labels == model._positive_index).float()
        # The code's PGD (attack.py `perturb`), written out: the same uniform start, then steps of
        # 2R/steps along sign(∇ TVD(y, p)), each clipped to the L∞ ball; padding never moves.
        torch.manual_seed(3)
        delta = (2 * torch.rand(embeddings.shape) - 1) * model.radius * mask.unsqueeze(-1)
        fixed = embeddings.detach()
        objective = []
        for _ in range(model.pgd_steps):
            delta.requires_grad_(True)
            probability = torch.sigmoid(self.by_hand(fixed + delta, mask)[0])
            tvd = (positive - probability).abs().sum()  # ½ Σ_c |y_c − p_c| with two classes
            objective.append(tvd.item())
            (gradient,) = torch.autograd.grad(tvd, delta)
            step = 2 * model.radius / model.pgd_steps * (gradient * mask.unsqueeze(-1)).sign()
            delta = (delta.detach() + step).clamp(-model.radius, model.radius)
        assert torch.all(delta.abs() <= model.radius * (1 + 1e-6))
        assert torch.all(delta[~mask] == 0)
        assert (delta.abs() == model.radius).any()
        final = (positive - torch.sigmoid(self.by_hand(fixed + delta, mask)[0])).abs().sum().item()
        assert final > objective[0]  # the ascent found a worse δ than its random start

        clean_logit, clean_attention = self.by_hand(embeddings, mask)
        perturbed_logit, perturbed_attention = self.by_hand(fixed + delta, mask)
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        # SEAT's top-k term as `topk_overlap_loss` computes it: per instance, the k largest of each
        # attention, |difference| on both sets, / (2k), then the mean over instances and positions.
        top_k = []
        for row in range(len(labels)):
            k = min(model.top_k, int(mask[row].sum()))
            first, second = perturbed_attention[row][mask[row]], clean_attention[row][mask[row]]
            on_first = (first - second)[first.detach().topk(k).indices].abs().sum()
            on_second = (first - second)[second.detach().topk(k).indices].abs().sum()
            top_k.append((on_first + on_second) / (2 * k) / model.top_k)
        expected = (
            bce(clean_logit, positive)
            + model._adversarial_weight * bce(perturbed_logit, positive)
            + model.top_k_weight * torch.stack(top_k).mean()
        )
        torch.testing.assert_close(output["loss"], expected)

        # Gradients: every parameter trains; the perturbed embeddings are constants (`fixed` above),
        # as the code's are `adv_x.data`, so the embedding matrix learns from the clean pass alone.
        names, parameters = zip(*[(name, p) for name, p in model.named_parameters() if p.requires_grad])
        actual = torch.autograd.grad(output["loss"], parameters, allow_unused=True, retain_graph=True)
        reference = torch.autograd.grad(expected, parameters, allow_unused=True, retain_graph=True)
        for name, got, wanted in zip(names, actual, reference):
            assert got is not None, name
            torch.testing.assert_close(got, wanted)
        metrics = model.get_metrics(reset=True)
        assert metrics["seat_topk_loss"] == pytest.approx(torch.stack(top_k).mean().item(), rel=1e-5)
        # SEAT's V_k: each instance's top-k sets compared over min(k, its length) words, so that
        # sentences of at most k words count (the tiny batch has some) rather than being NaN.
        lengths = mask.sum(1)
        assert (lengths <= model.top_k).any()
        overlaps = [len(set(perturbed_attention[row][mask[row]].topk(int(min(model.top_k, n))).indices.tolist())
                        & set(clean_attention[row][mask[row]].topk(int(min(model.top_k, n))).indices.tolist()))
                    / min(model.top_k, int(n)) for row, n in enumerate(lengths)]
        assert metrics["seat_topk_overlap"] == pytest.approx(sum(overlaps) / len(overlaps), rel=1e-5)

    def test_clipping_to_the_unit_interval_is_the_codes_pgd_step_by_step(self):
        model, batch = self.model, self.batch()
        model.train()
        model.clip_to_unit_interval, model.radius, model.pgd_steps = True, 0.2, 4
        with torch.no_grad():  # embeddings of the size of real ones (±1), so that the clamp matters
            for parameter in model._text_field_embedder.parameters():
                parameter.mul_(8)
        embedded = {"tokens": model.embed(batch["tokens"])}
        x, mask = embedded["tokens"].embeddings.detach(), embedded["tokens"].mask
        positive = (batch["label"] == model._positive_index).float()
        radius, step_size = model.radius, 2 * model.radius / model.pgd_steps

        def clip_(adv):  # attack.py `_clip_`, in place there: back into the ball around x, then into [0, 1]
            return (x + (adv - x).clamp(-radius, radius)).clamp(0, 1)

        # attack.py `perturb`, written out: random start, clipped; each step from the clipped point.
        torch.manual_seed(11)
        adv = clip_(x + 2 * (torch.rand_like(x) - 0.5) * radius)
        for _ in range(model.pgd_steps):
            adv.requires_grad_(True)
            probability = torch.sigmoid(self.by_hand(adv, mask)[0])
            loss = (0.5 * (positive - probability).abs()).sum()  # batch_tvd(y, sigmoid(ŷ))
            (gradient,) = torch.autograd.grad(loss, adv)
            adv = clip_(adv.detach() + step_size * gradient.sign())
        torch.manual_seed(11)
        ours = model.perturbed_embeddings(embedded, batch["label"])
        valid = mask.unsqueeze(-1).expand_as(x)
        torch.testing.assert_close(ours[valid], adv[valid], atol=1e-6, rtol=0)
        assert torch.equal(ours[~valid], x[~valid])  # padding never moves (the code's does, unseen by its packed RNN)
        # The clamp, not the ball, decides most coordinates: every one below −R is 0 now.
        far_below = (x < -radius) & valid
        assert far_below.any(), x.min()
        assert torch.all(ours[far_below] == 0)
        assert ours[valid].min() >= 0 and ours[valid].max() <= 1

    def test_the_summed_loss_is_the_batch_size_times_the_mean(self):
        model, batch = self.model, self.batch()
        model.train()
        losses = []
        for summed in (False, True):
            model.loss_summed_over_batch = summed
            torch.manual_seed(5)
            losses.append(model(**batch)["loss"])
        torch.testing.assert_close(losses[1], len(batch["label"]) * losses[0])

    def test_evaluation_is_the_plain_task_loss(self):
        model, batch = self.model, self.batch()
        model.eval()
        with torch.no_grad():
            output = model(**batch)
        logit, _ = self.by_hand(model._text_field_embedder(batch["tokens"]), util.get_text_field_mask(batch["tokens"]))
        positive = (batch["label"] == model._positive_index).float()
        torch.testing.assert_close(output["loss"], torch.nn.functional.binary_cross_entropy_with_logits(logit, positive))


def test_pgd_stays_in_the_ball_and_maximises_a_linear_objective():
    direction = torch.tensor([[[3.0, -4.0], [7.0, 0.5]], [[-1.0, 2.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, False], [True, True]])
    target = torch.tensor([[0.0, 1.0], [1.0, 0.0]])

    def probabilities_at(delta):
        # TVD to the target grows linearly with ⟨δ, direction⟩: the maximum is R·sign(direction).
        positive = 0.5 - 0.01 * (delta * direction).sum((1, 2))
        return torch.stack([1 - positive, positive], -1)

    delta = worst_embedding_perturbation(probabilities_at, torch.zeros(2, 2, 2), mask, target, radius=0.1, steps=10)
    expected = 0.1 * direction.sign() * mask.unsqueeze(-1)
    expected[1] *= -1  # instance 2's target is the negative class: its TVD grows the other way
    torch.testing.assert_close(delta, expected)


def test_total_variation_distance_by_hand():
    first = torch.tensor([[0.2, 0.8], [0.5, 0.5], [1.0, 0.0]])
    second = torch.tensor([[0.6, 0.4], [0.5, 0.5], [0.0, 1.0]])
    torch.testing.assert_close(total_variation_distance(first, second), torch.tensor([0.4, 0.0, 1.0]))


def test_pgd_starts_from_the_generators_uniform_draw_and_keeps_the_embeddings_dtype():
    """No steps: δ is the start, (2u − 1)·R on valid words, u the generator's uniform draw; one
    step of 2R from any start in the ball ends on its surface, R·sign(∇); δ has the embeddings' dtype."""
    embeddings = torch.zeros(2, 3, 4, dtype=torch.float64)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    target = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    direction = torch.randn(2, 3, 4, dtype=torch.float64)

    def probabilities_at(delta):
        positive = 0.5 + 0.01 * (delta * direction).sum((1, 2))
        return torch.stack([1 - positive, positive], -1)

    start = worst_embedding_perturbation(probabilities_at, embeddings, mask, target, 0.1, 0,
                                         generator=torch.Generator().manual_seed(5))
    uniform = torch.rand(embeddings.shape, generator=torch.Generator().manual_seed(5)).double()
    torch.testing.assert_close(start, (2 * uniform - 1) * 0.1 * mask.unsqueeze(-1))
    assert start.dtype == torch.float64
    one_step = worst_embedding_perturbation(probabilities_at, embeddings, mask, target, 0.1, 1,
                                            generator=torch.Generator().manual_seed(5))
    # Instance 1 (target negative) gains TVD along +direction, instance 2 along −direction.
    torch.testing.assert_close(one_step, 0.1 * direction.sign() * torch.tensor([1.0, -1.0]).view(2, 1, 1)
                               * mask.unsqueeze(-1))
    assert one_step.dtype == torch.float64


def test_train_and_measure_stability_through_the_cli(tmp_path):
    run = tmp_path / "seat"
    in_process("train", CONFIG, "-s", run, "-o", '{"trainer.num_epochs": 1}', env={"METHOD": "vanilla"})
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("training_seat_adversarial_loss", "training_seat_topk_loss", "training_seat_topk_overlap", "test_f1"):
        assert key in metrics, key
    output = tmp_path / "stability.json"
    in_process("stability", run / "model.tar.gz", "fixtures/sst/test.txt", "--output-file", output,
               env={"METHOD": "vanilla"})
    assert "pgd_jsd" in json.loads(output.read_text())


def seat_embedding_model(monkeypatch, **keys):
    return model_of_config(CONFIG, monkeypatch, **keys)


@pytest.mark.parametrize("key, value, message", [
    ("top_k", 0, "model.top_k must be an integer >= 1, got 0"),
    ("pgd_steps", 0, "model.pgd_steps must be an integer >= 1, got 0"),
    ("radius", -1, "model.radius must be a finite number >= 0, got -1"),
    ("top_k_weight", -1, "model.top_k_weight must be a finite number >= 0, got -1"),
])
def test_bad_hyperparameters_are_refused(monkeypatch, key, value, message):
    with pytest.raises(ConfigurationError) as error:
        seat_embedding_model(monkeypatch, **{key: value})
    assert error.value.message == message


def test_one_step_and_a_top_1_are_accepted(monkeypatch):
    model = seat_embedding_model(monkeypatch, top_k=1, pgd_steps=1)
    assert (model.top_k, model.pgd_steps) == (1, 1)


def test_the_defaults_are_the_authors_and_the_rest_reaches_the_classifier(monkeypatch):
    keys = ("radius", "pgd_steps", "adversarial_weight", "top_k", "top_k_weight", "clip_to_unit_interval",
            "loss_summed_over_batch")
    model = seat_embedding_model(monkeypatch, drop=keys)
    assert (model.radius, model.pgd_steps, model._adversarial_weight, model.top_k, model.top_k_weight,
            model.clip_to_unit_interval, model.loss_summed_over_batch) == (0.01, 10, 1.0, 7, 1000.0, False, False)
    assert (model._namespace, model._label_namespace, model._agreement_top_k, model._drop_unknown_tokens) == (
        "tokens", "labels", 5, False)
    other = seat_embedding_model(
        monkeypatch, positive_label="negative", namespace="words", label_namespace="sentiment_labels", adversarial_weight=0.5,
        regularizer={"regexes": [["_attention.*", {"type": "l2", "alpha": 0.5}]]}, positive_class_weight=2.0,
        agreement_measures=[{"type": "gradient_norm"}], agreement_top_k=3, drop_unknown_tokens=True)
    assert (other._namespace, other._label_namespace) == ("words", "sentiment_labels")
    assert other._positive_index == other.vocab.get_token_index("negative", "sentiment_labels")
    assert other.get_regularization_penalty() > 0 and other._positive_class_weight == 2.0
    assert [measure.name for measure in other._agreement_measures] == ["gradient_norm"]
    assert (other._agreement_top_k, other._drop_unknown_tokens, other._adversarial_weight) == (3, True, 0.5)
