import pytest
import torch
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch
from allennlp.nn import util

from attention_perturb.interpret.word_importance.gradient_x_input import gradient_times_input

CONFIG = "fixtures/sst_tiny.jsonnet"


class TestGradientImportance(ModelTestCase):
    @pytest.fixture(autouse=True)
    def model(self, monkeypatch):
        monkeypatch.setenv("METHOD", "vanilla")
        self.set_up_model(CONFIG, "fixtures/sst/train.txt", seed=3)
        self.model.eval()

    def tensors(self, instances):
        batch = Batch(instances)
        batch.index_instances(self.vocab)
        return batch.as_tensor_dict()

    def predicted_loss_from_embeddings(self, tokens, embeddings):
        model = self.model
        mask = util.get_text_field_mask(tokens)
        text = model.embed(tokens)._replace(embeddings=embeddings)
        output = model.objective({"tokens": text}, None)
        return model.loss(output["logits"], model.predicted_labels(output["logits"].detach())), mask

    def test_importance_equals_finite_difference_gradient_times_input(self):
        tokens = self.tensors(self.instances[:1])["tokens"]
        embeddings = self.model.embed(tokens).embeddings.detach().double()
        self.model.double()
        embeddings.requires_grad_(True)
        loss, mask = self.predicted_loss_from_embeddings(tokens, embeddings)
        importance = gradient_times_input(torch.autograd.grad(loss, embeddings)[0], embeddings, mask)
        step = 1e-6
        directional = []
        with torch.no_grad():
            for t in range(embeddings.size(1)):
                # d/dh L(e + h·e_t·1_t) at h = 0 is ∂L/∂e_t · e_t
                shifted = [embeddings.clone(), embeddings.clone()]
                shifted[0][0, t] *= 1 + step
                shifted[1][0, t] *= 1 - step
                losses = [self.predicted_loss_from_embeddings(tokens, e)[0] for e in shifted]
                directional.append(abs((losses[0] - losses[1]).item()) / (2 * step))
        expected = torch.tensor(directional, dtype=torch.float64)
        torch.testing.assert_close(importance[0], expected / expected.sum(), rtol=1e-5, atol=1e-7)

    def test_batched_importance_equals_one_at_a_time(self):
        instances = self.instances[:12]
        with torch.no_grad():
            batched = self.model(**self.tensors(instances))
            for position, instance in enumerate(instances):
                single = self.model(**self.tensors([instance]))
                length = single["gradient_importance"].size(1)
                torch.testing.assert_close(
                    batched["gradient_importance"][position, :length], single["gradient_importance"][0],
                    atol=1e-5, rtol=1e-5,
                )
                assert torch.all(batched["gradient_importance"][position, length:] == 0)
        metrics = self.model.get_metrics(reset=True)
        assert -1 <= metrics["pearson"] <= 1 and "pearson_skipped" in metrics

    def test_no_importance_in_training_or_when_switched_off(self):
        tensors = self.tensors(self.instances[:4])
        self.model.measure_agreement = False
        with torch.no_grad():
            assert "gradient_importance" not in self.model(**tensors)
        self.model.measure_agreement = True
        assert "gradient_importance" not in self.model(**tensors)  # caller has gradients on
