import json

import pytest
import torch
from allennlp.common.testing import ModelTestCase
from allennlp.data import Batch
from allennlp.nn import util

from tests.cli import as_subprocess, in_process
from tests.conftest import METHODS

CONFIG = "fixtures/babi_tiny.jsonnet"


class TestAttentionPairClassifier(ModelTestCase):
    def configure(self, monkeypatch, method):
        monkeypatch.setenv("METHOD", method)
        self.set_up_model(CONFIG, "fixtures/babi/en-10k/qa1_single-supporting-fact_train.txt", seed=5)

    @pytest.mark.parametrize("method", METHODS)
    def test_can_train_save_and_load(self, monkeypatch, method):
        self.configure(monkeypatch, method)
        self.ensure_model_can_train_save_and_load(
            self.param_file, seed=5, overrides='{"data_loader.batch_sampler.shuffle": false}'
        )

    @pytest.mark.parametrize("method", ["word_at", "attention_iat"])
    def test_perturbations_act_where_the_method_says(self, monkeypatch, method):
        """Attention perturbations change only the passage scores; word perturbations both texts."""
        self.configure(monkeypatch, method)
        batch = Batch(self.instances[:4])
        batch.index_instances(self.vocab)
        tensors = batch.as_tensor_dict()
        model = self.model.train()
        calls = {"passage": 0, "question": 0}
        model._passage_encoder.register_forward_hook(lambda *a: calls.__setitem__("passage", calls["passage"] + 1))
        model._question_encoder.register_forward_hook(lambda *a: calls.__setitem__("question", calls["question"] + 1))
        output = model(**tensors)
        expected = 2 if method == "word_at" else 1
        assert calls == {"passage": expected, "question": expected}
        assert output["perturbation_norm"] > 0
        assert torch.all(output["attention"][~util.get_text_field_mask(tensors["passage"])] == 0)

    def test_evaluation_reports_agreement_on_the_passage(self, monkeypatch):
        self.configure(monkeypatch, "vanilla")
        batch = Batch(self.instances[:6])
        batch.index_instances(self.vocab)
        self.model.eval()
        with torch.no_grad():
            output = self.model(**batch.as_tensor_dict())
        assert output["gradient_importance"].shape == output["attention"].shape
        metrics = self.model.get_metrics(reset=True)
        assert {"accuracy", "micro_f1", "macro_f1", "pearson"} <= set(metrics)


def test_make_dataset_then_train_and_evaluate_through_the_cli(tmp_path):
    def allennlp(*args):
        return in_process(*args, env={"METHOD": "attention_iat"})

    data = tmp_path / "babi"
    allennlp("make-dataset", "babi", "fixtures/babi", "-o", str(data))
    assert json.loads((data / "meta.json").read_text())["sizes"] == {"train": 8, "validation": 2, "test": 5}
    overrides = json.dumps({
        "train_data_path": str(data / "train.jsonl"),
        "validation_data_path": str(data / "train.jsonl"),
        "test_data_path": str(data / "train.jsonl"),
        "evaluate_on_test": True,
    })
    allennlp("train", CONFIG, "-s", str(tmp_path / "run"), "-o", overrides)
    trained = json.loads((tmp_path / "run" / "metrics.json").read_text())
    output = tmp_path / "metrics.json"
    allennlp("evaluate", str(tmp_path / "run" / "model.tar.gz"), str(data / "train.jsonl"), "--output-file", str(output))
    evaluated = json.loads(output.read_text())  # the archive on the file training tested it on
    for key in ("accuracy", "pearson"):
        assert evaluated[key] == pytest.approx(trained[f"test_{key}"], abs=1e-6), key  # float32 sums


@pytest.mark.long(seconds=120)
@pytest.mark.parametrize("method", ["attention_iat", "word_at"])
def test_distributed_training_on_two_cpu_workers_matches_single_process_metrics(tmp_path, method):
    """Two workers with batches of 4 train as one process with batches of 8: allennlp gives worker
    r instances r, r + 2, ... in file order, DDP averages the two batch-mean gradients into the
    mean over the 8 instances, and the perturbations are normalised per instance. Every metric,
    the adversarial statistics and the validation agreement included, is then the single
    process's up to float32 rounding (measured: at most 1.2e-7 relative, except validation_pearson,
    a correlation near 0.03 computed from differently padded batches: 5e-6 relative, 1.7e-7
    absolute). Before the workers' statistics were summed, training_clean_loss was worker 0's
    alone: 0.6 % off."""
    def train(run, batch_size, distributed):
        overrides = {
            "data_loader": {"batch_size": batch_size, "batch_sampler": None},  # in order: no bucketing, no shuffle
            "trainer.callbacks": [{"type": "adversarial_statistics"}, {"type": "validation_agreement", "enabled": True}],
            **({"distributed": {"cuda_devices": [-1, -1]}} if distributed else {}),
        }
        # The workers are processes of their own; the single process can be this one.
        (as_subprocess if distributed else in_process)("train", CONFIG, "-s", run, "-o", json.dumps(overrides),
                                                       env={"METHOD": method})
        return json.loads((run / "metrics.json").read_text())

    single = train(tmp_path / "single", 8, distributed=False)
    distributed = train(tmp_path / "distributed", 4, distributed=True)
    assert set(distributed) - {"peak_worker_1_memory_MB", "training_worker_1_memory_MB"} == set(single)
    compared = [key for key in single if "memory" not in key and key != "training_duration"]
    assert {"training_loss", "training_clean_loss", "training_perturbation_norm", "validation_pearson",
            "best_validation_accuracy"} <= set(compared)
    assert {key: distributed[key] for key in compared} == pytest.approx({key: single[key] for key in compared}, rel=1e-5, abs=1e-6)
    assert distributed["training_perturbation_norm"] > 0


@pytest.mark.parametrize("method", ["vanilla", "word_at", "attention_iat"])
def test_cnn_answers_are_chosen_among_the_passage_entities(method):
    """The softmax runs over the passage's entity markers only, in the clean and adversarial passes."""
    from allennlp.common import Params
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.models import Model

    reader = DatasetReader.by_name("cnn")()
    instances = list(reader.read("fixtures/cnn/cnn/questions/training"))
    entities = [f"@entity{i}" for i in range(40)]
    vocab = Vocabulary.from_instances(instances, tokens_to_add={"tokens": entities, "labels": entities})
    torch.manual_seed(0)
    lstm = {"type": "lstm", "input_size": 8, "hidden_size": 4, "bidirectional": True}
    model = Model.from_params(vocab=vocab, params=Params({
        "type": "attention_pair_classifier",
        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
        "passage_encoder": lstm, "question_encoder": dict(lstm),
        "attention": {"type": "additive", "input_dim": 8, "hidden_dim": 5, "query_dim": 8},
        "decoder_hidden": 6,
        "perturbation": {"type": {"vanilla": "none", "word_at": "word_adversarial", "attention_iat": "attention_interpretable"}[method]},
    }))
    batch = Batch(instances[:6])
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    candidates = tensors["candidates"].bool()
    assert candidates.sum(1).tolist() == [len(set(i["metadata"]["candidates"])) for i in instances[:6]]

    output = model.train()(**tensors)
    assert torch.all(output["probs"][~candidates] == 0)
    assert torch.allclose(output["probs"].sum(1), torch.ones(6))
    # The clean loss is the cross-entropy of the softmax over each passage's entities alone.
    unmasked = torch.nn.functional.log_softmax(output["logits"].masked_fill(~candidates, float("-inf")), dim=1)
    expected = -unmasked.gather(1, tensors["label"].unsqueeze(1)).mean()
    assert torch.allclose(output["clean_loss" if method != "vanilla" else "loss"], expected)
    answers = model.make_output_human_readable(output)["label"]
    assert all(answer in instance["metadata"]["candidates"] for answer, instance in zip(answers, instances))
