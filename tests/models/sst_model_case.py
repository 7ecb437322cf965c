import pytest
import torch
from allennlp.common import Params
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch, Vocabulary
from allennlp.models import Model


class SstModelCase(ModelTestCase):
    """
    Tests of one model on a tiny SST fixture config, `CONFIG`, read with METHOD=vanilla and the
    environment `environment(request)` gives, seed 7: the model, `batch()` (the first instances,
    indexed), and allennlp's train / save / load check.
    """

    CONFIG: str
    BATCH_SIZE = 8

    def environment(self, request) -> dict:
        return {}

    @pytest.fixture(autouse=True)
    def set_up(self, monkeypatch, request):
        for name, value in {"METHOD": "vanilla", **self.environment(request)}.items():
            monkeypatch.setenv(name, value)
        self.set_up_model(self.CONFIG, "fixtures/sst/train.txt", seed=7)

    def batch(self, size=None):
        batch = Batch(self.instances[: size or self.BATCH_SIZE])
        batch.index_instances(self.vocab)
        return batch.as_tensor_dict()

    def test_can_train_save_and_load(self):
        self.ensure_model_can_train_save_and_load(
            self.param_file, seed=7, overrides='{"data_loader.batch_sampler.shuffle": false}'
        )

    def test_the_evaluation_loss_is_the_task_loss_even_with_gradients_on(self):
        """Evaluation with gradients on (the saliency measures take ∂L/∂e) runs no training objective."""
        self.model.eval()
        batch = self.batch()
        output = self.model(**batch)
        torch.testing.assert_close(output["loss"], self.model.loss(output["logits"], batch["label"]))
        assert "perturbation_norm" not in output


# Labels and words in the default namespaces and in the other ones the constructor tests pass.
SETTINGS_VOCABULARY = {"labels": {"positive": 1, "negative": 1}, "tokens": {"film": 1}, "words": {"film": 1},
                       "sentiment_labels": {"positive": 1, "negative": 1}}


def model_of_config(config, monkeypatch, *, drop=(), environment=None, vocabulary=None, **settings):
    """The model of a tiny fixture `config` (read with METHOD=vanilla and `environment`) with
    `settings` and without the keys in `drop` (their defaults then), over `vocabulary` (default: a
    few words, SETTINGS_VOCABULARY): for constructor tests, without reading any data."""
    for name, value in {"METHOD": "vanilla", **(environment or {})}.items():
        monkeypatch.setenv(name, value)
    params = Params.from_file(config).pop("model").as_dict()
    for key in drop:
        params.pop(key, None)  # a key the config leaves out has its default already
    return Model.from_params(vocab=Vocabulary(vocabulary or SETTINGS_VOCABULARY), params=Params({**params, **settings}))
