"""Each importance measure against a brute-force reference on a tiny padded batch of real SST trees."""
import pytest
import scipy.stats
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch

from attention_perturb.interpret.agreement import kendall_per_instance, top_k_overlap_per_instance
from attention_perturb.interpret.word_importance import WordImportance

CONFIG = "fixtures/sst_tiny.jsonnet"


def measure(name, **settings):
    return WordImportance.from_params(Params({"type": name, **settings}))


class ReadsTokenIds:
    """`model`, with its logits moved by the sum of the attended text's token ids: a model whose
    logits read the ids as well as the embeddings."""

    def __init__(self, model) -> None:
        self.model = model
        self.rows_per_pass = []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def logits_of(self, embedded, detach_attention=False):
        text = embedded[self.model.attended_key]
        self.rows_per_pass.append(text.token_ids.size(0))
        id_sum = (text.token_ids * text.mask).sum(1, keepdim=True).double()
        return self.model.logits_of(embedded, detach_attention) + 0.01 * id_sum * torch.tensor([1.0, -1.0]).double()


class TestWordImportance(ModelTestCase):
    @pytest.fixture(autouse=True)
    def model(self, monkeypatch):
        monkeypatch.setenv("METHOD", "vanilla")
        self.set_up_model(CONFIG, "fixtures/sst/train.txt", seed=3)
        self.model.eval().double()
        # Instances of different lengths (padding), one of a single token.
        self.batch_instances = [self.instances[index] for index in (0, 5, 11)]

    def token_ids(self, instances):
        batch = Batch(instances)
        batch.index_instances(self.vocab)
        return batch.as_tensor_dict()["tokens"]

    def embedded(self, token_ids):
        if not isinstance(token_ids, dict):
            token_ids = {"tokens": {"tokens": token_ids}}
        text = self.model.embed(token_ids)
        return {"tokens": text._replace(embeddings=text.embeddings.detach())}

    def padded_batch(self):
        tokens = self.token_ids(self.batch_instances)
        ids = tokens["tokens"]["tokens"]
        single = torch.zeros_like(ids[:1])
        single[0, 0] = ids[0, 0]  # a one-token input
        ids = torch.cat([ids, single])
        embedded = self.embedded(ids)
        with torch.no_grad():
            labels = self.model.predicted_labels(self.model.logits_of(embedded))
        return ids, embedded, labels

    def loss_of_one(self, ids, embeddings, label, fixed_scores=None):
        """L(x, ŷ) of one unpadded input, from its embeddings, through the model's stages."""
        text = self.model.embed({"tokens": {"tokens": ids[None]}})._replace(embeddings=embeddings[None])
        encoded = self.model.encode({"tokens": text})
        scores = self.model.score(encoded) if fixed_scores is None else fixed_scores
        logits, _ = self.model.head(encoded, scores)
        return self.model.loss(logits, label[None])

    def one_at_a_time(self, ids, embedded, labels, raw_scores):
        """raw_scores(unpadded ids, embeddings, label) for each instance, padded back with zeros."""
        result = torch.zeros(ids.shape, dtype=torch.float64)
        for b in range(ids.size(0)):
            length = int((ids[b] != 0).sum())
            result[b, :length] = raw_scores(ids[b, :length], embedded["tokens"].embeddings[b, :length], labels[b])
        return result

    @staticmethod
    def normalised(scores):
        magnitudes = scores.abs()
        totals = magnitudes.sum(1, keepdim=True)
        return torch.where(totals > 0, magnitudes / totals, magnitudes)

    def gradient_of_one(self, ids, embeddings, label, detach_attention=False):
        embeddings = embeddings.clone().requires_grad_()
        fixed = None
        if detach_attention:  # the attention of the unperturbed input, held constant
            with torch.no_grad():
                text = self.model.embed({"tokens": {"tokens": ids[None]}})._replace(embeddings=embeddings[None])
                fixed = self.model.score(self.model.encode({"tokens": text}))
        (gradient,) = torch.autograd.grad(self.loss_of_one(ids, embeddings, label, fixed), embeddings)
        return gradient

    def test_gradient_x_input_equals_the_models_default_importance_and_finite_differences(self):
        ids, embedded, labels = self.padded_batch()
        importance = measure("gradient_x_input")(self.model, embedded, labels)
        with torch.no_grad():
            output = self.model(tokens={"tokens": {"tokens": ids}})
        torch.testing.assert_close(importance, output["gradient_importance"])
        # Finite differences along e_t for instance 0: d/dh L(e + h·e_t·1_t) = g_t·e_t.
        length = int((ids[0] != 0).sum())
        embeddings = embedded["tokens"].embeddings[0, :length]
        step, directional = 1e-6, []
        for t in range(length):
            losses = []
            for sign in (1, -1):
                shifted = embeddings.clone()
                shifted[t] *= 1 + sign * step
                losses.append(float(self.loss_of_one(ids[0, :length], shifted, labels[0])))
            directional.append(abs(losses[0] - losses[1]) / (2 * step))
        expected = torch.tensor(directional, dtype=torch.float64)
        torch.testing.assert_close(importance[0, :length], expected / expected.sum(), rtol=1e-5, atol=1e-8)
        assert torch.all(importance[0, length:] == 0)

    @pytest.mark.parametrize("detach_attention", [False, True])
    def test_gradient_norm_batched_equals_one_at_a_time(self, detach_attention):
        ids, embedded, labels = self.padded_batch()
        batched = measure("gradient_norm", detach_attention=detach_attention)(self.model, embedded, labels)
        expected = self.one_at_a_time(
            ids, embedded, labels,
            lambda i, e, y: self.gradient_of_one(i, e, y, detach_attention).norm(dim=-1),
        )
        torch.testing.assert_close(batched, self.normalised(expected))
        assert torch.all(batched[ids == 0] == 0)
        assert batched[-1, 0] == 1  # the one-token input

    def test_detached_attention_is_the_gradient_with_the_weights_held_constant(self):
        ids, embedded, labels = self.padded_batch()
        detached = measure("gradient_x_input", detach_attention=True)
        assert detached.name == "gradient_x_input_detached"
        raw = detached.scores(self.model, embedded, labels)
        expected = self.one_at_a_time(
            ids, embedded, labels, lambda i, e, y: (self.gradient_of_one(i, e, y, detach_attention=True) * e).sum(-1)
        )
        torch.testing.assert_close(raw, expected)
        attached = measure("gradient_x_input").scores(self.model, embedded, labels)
        assert not torch.allclose(raw, attached)  # the weights' own path carries gradient

    @pytest.mark.parametrize("detach_attention", [False, True])
    def test_simple_gradient_allennlp_is_each_gradient_times_the_first_embedding(self, detach_attention):
        ids, embedded, labels = self.padded_batch()
        raw = measure("simple_gradient_allennlp", detach_attention=detach_attention).scores(self.model, embedded, labels)
        expected = self.one_at_a_time(
            ids, embedded, labels, lambda i, e, y: (self.gradient_of_one(i, e, y, detach_attention) * e[:1]).sum(-1)
        )
        torch.testing.assert_close(raw[ids != 0], expected[ids != 0])

    def test_leave_one_out_is_the_probability_drop_of_each_shorter_input(self):
        ids, embedded, labels = self.padded_batch()
        drops = measure("leave_one_out", max_batch=3).scores(self.model, embedded, labels)  # several passes

        def brute_force(unpadded, _embeddings, label):
            def probability(token_ids):
                with torch.no_grad():
                    output = self.model(tokens={"tokens": {"tokens": token_ids[None]}})
                return output["probs"][0, label]

            if unpadded.numel() == 1:
                return torch.zeros(1, dtype=torch.float64)
            return torch.stack([
                probability(unpadded) - probability(torch.cat([unpadded[:t], unpadded[t + 1:]]))
                for t in range(unpadded.numel())
            ])

        expected = self.one_at_a_time(ids, embedded, labels, brute_force)
        torch.testing.assert_close(drops, expected)
        assert drops.abs().sum() > 0 and torch.all(drops[-1] == 0)
        # A batch whose longest input has two tokens: each token's drop is the other one alone.
        two = ids[:2, :2].clone()
        two[1, 1] = 0
        two_embedded = self.embedded(two)
        with torch.no_grad():
            two_labels = self.model.predicted_labels(self.model.logits_of(two_embedded))
        torch.testing.assert_close(measure("leave_one_out").scores(self.model, two_embedded, two_labels),
                                   self.one_at_a_time(two, two_embedded, two_labels, brute_force))
        with pytest.raises(ConfigurationError) as error:
            measure("leave_one_out", detach_attention=True)
        assert error.value.message == "leave_one_out takes no gradient: detach_attention does not apply to it"

    def test_leave_one_out_hands_the_model_the_shorter_inputs_token_ids_too(self):
        """A model that reads its text's token ids besides their embeddings sees the input without
        token t in both: the probability drops equal those of the shorter inputs embedded anew. The
        variants run `max_batch` rows a pass, after one pass of the inputs themselves."""
        model = ReadsTokenIds(self.model)
        ids, embedded, labels = self.padded_batch()
        drops = measure("leave_one_out", max_batch=3).scores(model, embedded, labels)
        variants = int((ids != 0).sum(1)[(ids != 0).sum(1) > 1].sum())
        assert model.rows_per_pass == [len(ids)] + [3] * (variants // 3) + ([variants % 3] if variants % 3 else [])

        def brute_force(unpadded, _embeddings, label):
            def probability(token_ids):
                with torch.no_grad():
                    return model.label_probabilities(model.logits_of(self.embedded(token_ids[None])), label[None])[0]

            if unpadded.numel() == 1:
                return torch.zeros(1, dtype=torch.float64)
            return torch.stack([
                probability(unpadded) - probability(torch.cat([unpadded[:t], unpadded[t + 1:]]))
                for t in range(unpadded.numel())
            ])

        torch.testing.assert_close(drops, self.one_at_a_time(ids, embedded, labels, brute_force))

    @pytest.mark.parametrize("max_batch,detach_attention", [(10, False), (1024, False), (10, True)])
    def test_integrated_gradients_equals_a_loop_over_steps_and_is_complete(self, max_batch, detach_attention):
        """In several passes (10 rows: 2 steps of the 4 instances a pass) and in one (1024)."""
        ids, embedded, _ = self.padded_batch()
        labels = torch.tensor([0, 1, 0, 1])  # not all alike, so that rows of different instances cannot mix unseen
        steps = 8
        raw = measure("integrated_gradients", steps=steps, max_batch=max_batch,
                      detach_attention=detach_attention).scores(self.model, embedded, labels)

        def brute_force(unpadded, embeddings, label):
            total = sum(self.gradient_of_one(unpadded, k / steps * embeddings, label, detach_attention)
                        for k in range(1, steps + 1))
            return (embeddings * total / steps).sum(-1)

        torch.testing.assert_close(raw, self.one_at_a_time(ids, embedded, labels, brute_force))
        if detach_attention or max_batch != 10:
            return
        assert measure("integrated_gradients").steps == 20  # the documented defaults
        assert measure("integrated_gradients").name == "integrated_gradients"  # attention not detached
        # Scores are values, not part of a graph, even from embeddings that are.
        attached = {"tokens": self.model.embed({"tokens": {"tokens": ids}})}
        assert attached["tokens"].embeddings.requires_grad
        assert not measure("integrated_gradients", steps=2).scores(self.model, attached, labels).requires_grad
        # Completeness: Σ_t IG_t -> L(x) - L(0) as the steps grow.
        fine = measure("integrated_gradients", steps=400).scores(self.model, embedded, labels)
        length = int((ids[0] != 0).sum())
        embeddings = embedded["tokens"].embeddings[0, :length]
        with torch.no_grad():
            difference = self.loss_of_one(ids[0, :length], embeddings, labels[0]) - self.loss_of_one(
                ids[0, :length], torch.zeros_like(embeddings), labels[0])
        assert float(fine[0].sum()) == pytest.approx(float(difference), rel=2e-2, abs=1e-4)

    def test_zero_gradient_gives_zero_importance_without_nan(self):
        ids, embedded, labels = self.padded_batch()
        with torch.no_grad():
            self.model._decoder.weight.zero_()  # the output no longer depends on the input
        for name in ("gradient_x_input", "gradient_norm", "integrated_gradients", "leave_one_out"):
            importance = measure(name)(self.model, embedded, labels)
            assert torch.all(importance == 0), name

    def test_metrics_name_every_measure_and_agreement(self):
        self.model._agreement_measures = [measure("leave_one_out"), measure("gradient_norm", detach_attention=True)]
        batch = Batch(self.instances[:12])
        batch.index_instances(self.vocab)
        tensors = batch.as_tensor_dict()
        tokens = tensors["tokens"]
        with torch.no_grad():
            output = self.model(tokens=tokens, label=tensors["label"])
        metrics = self.model.get_metrics(reset=True)
        expected = {f"{agreement}{suffix}" for agreement in ("pearson", "kendall", "top5")
                    for suffix in ("", "_leave_one_out", "_gradient_norm_detached")}
        assert expected <= set(metrics)
        mask = tokens["tokens"]["tokens"] != 0
        values = output["attention_kendall_leave_one_out"]
        defined = ~torch.isnan(values)
        assert metrics["kendall_leave_one_out"] == pytest.approx(float(values[defined].mean()))
        reference = kendall_per_instance(output["attention"], output["importance_leave_one_out"], mask)
        torch.testing.assert_close(values, reference, equal_nan=True)


def test_batched_kendall_equals_scipy_with_ties_and_padding():
    torch.manual_seed(0)
    first = torch.randint(0, 4, (6, 9)).double()  # many ties
    second = torch.randn(6, 9).double()
    second[:, 3] = second[:, 2]
    lengths = torch.tensor([9, 7, 5, 2, 1, 4])
    mask = torch.arange(9)[None] < lengths[:, None]
    first[3, :2] = 1.0  # a constant vector: undefined
    taus = kendall_per_instance(first, second, mask)
    for b, length in enumerate(lengths.tolist()):
        if length < 2 or b == 3:
            assert torch.isnan(taus[b])
        else:
            expected = scipy.stats.kendalltau(first[b, :length], second[b, :length]).statistic
            assert float(taus[b]) == pytest.approx(expected, abs=1e-12)


def test_top_k_overlap_by_hand():
    attention = torch.tensor([[0.4, 0.3, 0.2, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0]])
    importance = torch.tensor([[0.1, 0.5, 0.3, 0.05, 0.9], [0.4, 0.3, 0.2, 0.1, 0.0], [0.2, 0.8, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 0, 0, 0]]).bool()
    overlap = top_k_overlap_per_instance(attention, importance, mask, k=2)
    # Row 0: top-2 attention {0, 1}, importance {1, 2} (position 4 is padding) -> 1/2.
    # Row 1: {3, 2} against {0, 1} -> 0. Row 2: two tokens, k = 2: undefined.
    assert overlap[0] == 0.5 and overlap[1] == 0 and torch.isnan(overlap[2])
