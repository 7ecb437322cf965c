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


NLI_LABELS = ["entailment", "neutral", "contradiction"]
PAIR_VOCABULARY = {"labels": dict.fromkeys(NLI_LABELS, 1), "tokens": {word: 1 for word in "abcdef"}}
PASSAGE = {"tokens": {"tokens": torch.tensor([[2, 3, 4, 5], [6, 7, 0, 0]])}}
QUESTION = {"tokens": {"tokens": torch.tensor([[3, 0, 0], [4, 5, 6]])}}


def pair_model(monkeypatch, **settings):
    from tests.models.sst_model_case import model_of_config

    torch.manual_seed(3)
    return model_of_config(CONFIG, monkeypatch, vocabulary=PAIR_VOCABULARY, **settings).eval()


def test_the_pair_forward_is_eq_6_to_8_written_out(monkeypatch):
    """Eq. 7's scores from the passage states and the question's last state (forward half at its
    last word, backward half at its first), Eq. 8's context, the decoder and the softmax, by hand
    from the model's weights; only the two BiLSTMs (Eq. 6) are the model's own modules."""
    model = pair_model(monkeypatch)
    label = torch.tensor([2, 0])
    with torch.no_grad():
        output = model(passage=PASSAGE, question=QUESTION, label=label,
                       metadata=[{"passage_words": ["b", "c", "d", "e"]}, {"passage_words": ["f", "g"]}])
        passage_mask, question_mask = (text["tokens"]["tokens"] > 0 for text in (PASSAGE, QUESTION))
        embed = model._text_field_embedder
        states = model._passage_encoder(embed(PASSAGE), passage_mask)
        question_states = model._question_encoder(embed(QUESTION), question_mask)
        half = question_states.size(-1) // 2
        last = question_mask.sum(1) - 1
        query = torch.cat([question_states[torch.arange(2), last, :half], question_states[:, 0, half:]], dim=-1)
        attention = model._attention
        scores = torch.tanh(states @ attention.state_projection.weight.T + attention.state_projection.bias
                            + (query @ attention.query_projection.weight.T).unsqueeze(1)) @ attention.context.weight.T
        weights = torch.softmax(scores.squeeze(-1).masked_fill(~passage_mask, -float("inf")), dim=-1)
        context = (weights.unsqueeze(-1) * states).sum(1)
        hidden = torch.tanh(context @ model._context_projection.weight.T + model._context_projection.bias
                            + query @ model._question_projection.weight.T)
        logits = hidden @ model._decoder.weight.T + model._decoder.bias
    assert model._question_projection.bias is None and logits.shape == (2, 3)
    torch.testing.assert_close(output["attention_scores"], scores.squeeze(-1))  # Eq. 7's ã, before the softmax
    torch.testing.assert_close(output["attention"], weights)
    torch.testing.assert_close(output["logits"], logits)
    torch.testing.assert_close(output["probs"], torch.softmax(logits, dim=-1))
    torch.testing.assert_close(output["loss"], torch.nn.functional.cross_entropy(logits, label))
    assert output["words"] == [["b", "c", "d", "e"], ["f", "g"]]
    assert torch.equal(model.predicted_labels(logits), logits.argmax(-1))
    readable = model.make_output_human_readable({"probs": torch.tensor([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2]])})
    assert readable["label"] == ["contradiction", "entailment"]


def test_answer_candidates_take_every_logit_outside_them_to_the_floor(monkeypatch):
    model = pair_model(monkeypatch)
    candidates = torch.tensor([[0, 1, 1], [1, 0, 0]])
    with torch.no_grad():
        free = model(passage=PASSAGE, question=QUESTION)["logits"]
        restricted = model(passage=PASSAGE, question=QUESTION, candidates=candidates)["logits"]
    floor = torch.finfo(free.dtype).min
    assert torch.equal(restricted, torch.where(candidates.bool(), free, torch.full_like(free, floor)))


def test_the_nli_metrics_by_hand_and_their_reset(monkeypatch):
    """Accuracy, micro F1 (= accuracy), macro F1 and each label's F1 of two batches together,
    then of a third batch alone after a reset."""
    model = pair_model(monkeypatch, per_label_f1=True)
    with torch.no_grad():
        logits = model(passage=PASSAGE, question=QUESTION)["logits"]
    predicted = logits.argmax(-1)
    other = (predicted + 1) % 3
    for label in (predicted, torch.stack([predicted[0], other[1]])):  # 3 of 4 right
        with torch.no_grad():
            model(passage=PASSAGE, question=QUESTION, label=label)
    metrics = model.get_metrics()
    gold = torch.cat([predicted, torch.stack([predicted[0], other[1]])])
    guessed = torch.cat([predicted, predicted])

    def f1(index):
        true_positive = ((guessed == index) & (gold == index)).sum().item()
        predicted_count, gold_count = (guessed == index).sum().item(), (gold == index).sum().item()
        return 2 * true_positive / (predicted_count + gold_count) if predicted_count + gold_count else 0.0

    expected_f1 = {f"f1_{name}": f1(index) for index, name in enumerate(NLI_LABELS)}
    expected = {"accuracy": 0.75, "micro_f1": 0.75, "macro_f1": sum(expected_f1.values()) / 3, **expected_f1}
    assert {key: metrics[key] for key in expected} == pytest.approx(expected)
    assert "pearson" in metrics  # the agreement, measured in evaluation
    assert model.get_metrics(reset=True) == pytest.approx(metrics)  # read again, then reset
    other_passage = {"tokens": {"tokens": torch.tensor([[5, 4, 3, 2], [7, 6, 0, 0]])}}  # another agreement
    other = model(passage=other_passage, question=QUESTION)["logits"].argmin(-1)  # gradients on: nothing measured
    with torch.no_grad():
        model(passage=other_passage, question=QUESTION, label=other)  # every one wrong
    after = model.get_metrics(reset=True)
    assert {key: after[key] for key in expected} == pytest.approx(dict.fromkeys(expected, 0.0))
    without = pair_model(monkeypatch)  # the same weights, the third batch alone
    with torch.no_grad():
        without(passage=other_passage, question=QUESTION, label=other)
    alone = without.get_metrics()
    assert not any(key.startswith("f1_") for key in alone)
    assert after["pearson"] == pytest.approx(alone["pearson"]) and alone["pearson"] != pytest.approx(metrics["pearson"])


def test_the_pair_models_defaults_and_settings(monkeypatch):
    from tests.models.sst_model_case import model_of_config

    keys = ("decoder_hidden", "adversarial_weight", "per_label_f1", "perturbation")
    model = model_of_config(CONFIG, monkeypatch, drop=keys, vocabulary=PAIR_VOCABULARY)
    assert (model._decoder.in_features, model._adversarial_weight, model._per_label_f1) == (128, 1.0, None)
    assert (model._label_namespace, model._agreement_top_k, model._drop_unknown_tokens, model._padded_agreement,
            model._clean_loss_weight, model.perturbation.__class__.__name__) == (
        "labels", 5, False, False, 1.0, "NoPerturbation")
    vocabulary = {**PAIR_VOCABULARY, "nli_labels": {"yes": 1, "no": 1}}
    other = model_of_config(
        CONFIG, monkeypatch, vocabulary=vocabulary, label_namespace="nli_labels", adversarial_weight=0.5,
        agreement_top_k=3, drop_unknown_tokens=True, padded_agreement=True, clean_loss_weight=2.0,
        agreement_measures=[{"type": "gradient_norm"}], regularizer={"regexes": [["_decoder.*", {"type": "l2", "alpha": 0.5}]]})
    assert (other._label_namespace, other._decoder.out_features, other._adversarial_weight, other._agreement_top_k) == (
        "nli_labels", 2, 0.5, 3)
    assert (other._drop_unknown_tokens, other._padded_agreement, other._clean_loss_weight) == (True, True, 2.0)
    assert [measure.name for measure in other._agreement_measures] == ["gradient_norm"]
    assert other.get_regularization_penalty() > 0
