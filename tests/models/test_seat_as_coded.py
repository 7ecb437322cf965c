"""SEAT as its authors' code trains it: every setting of lib/seat_as_coded.libsonnet reaches the
model, the optimiser, the data loader and the trainer; the authors' selection rule (best test
macro-F1) is an option that picks the epoch on the test set, and is off by default."""
import json

import pytest
import torch
from allennlp.common import Params
from allennlp.data import Vocabulary
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

from tests.cli import in_process

AS_CODED, TEST_SELECTED = "training_configs/sst_seat_as_coded.jsonnet", "training_configs/sst_seat_as_coded_test_selected.jsonnet"
TINY = "fixtures/sst_seat_as_coded_tiny.jsonnet"


def model_and_optimiser(config):
    params = Params.from_file(config, params_overrides=json.dumps(
        {"model.text_field_embedder.token_embedders.tokens.pretrained_file": None}))
    vocab = Vocabulary({"labels": {"positive": 1, "negative": 1}, "tokens": {"good": 1, "bad": 1}})
    model = Model.from_params(vocab=vocab, params=params.pop("model"))
    trainer = params.pop("trainer")
    optimiser = Optimizer.from_params(model_parameters=[[n, p] for n, p in model.named_parameters() if p.requires_grad],
                                      params=trainer.pop("optimizer"))
    return model, optimiser, trainer.as_dict(), params.as_dict()


def settings_of(optimiser, parameter):
    [group] = [group for group in optimiser.param_groups if any(p is parameter for p in group["params"])]
    return group["lr"], group["weight_decay"], group["amsgrad"]


@pytest.mark.parametrize("config", [AS_CODED, TEST_SELECTED])
def test_the_codes_settings_reach_the_model_optimiser_and_trainer(config):
    model, optimiser, trainer, rest = model_and_optimiser(config)
    assert (model.clip_to_unit_interval, model.loss_summed_over_batch) == (True, True)
    assert (model.radius, model.pgd_steps, model.top_k, model.top_k_weight, model._adversarial_weight) == (0.01, 10, 7, 1000.0, 1.0)
    assert model._positive_class_weight == pytest.approx(3310 / 3610)  # the code's pos_weight, #negative / #positive
    # Binary_Classification.py:67-84: Adam (amsgrad) at lr 0.01 with weight decay 1e-5 for the embedding and
    # encoder, 0.001 without weight decay for the attention, 0.001 with 1e-5 for the decoder.
    expected = {"_text_field_embedder": (0.01, 1e-5, True), "_encoder": (0.01, 1e-5, True),
                "_attention": (0.001, 0.0, True), "_decoder": (0.001, 1e-5, True)}
    for name, parameter in model.named_parameters():
        assert settings_of(optimiser, parameter) == expected[name.split(".")[0]], name
    assert (trainer["num_epochs"], trainer["patience"]) == (20, 10)
    assert rest["data_loader"]["batch_sampler"]["batch_size"] == 32 and rest["data_loader"]["batch_sampler"]["drop_last"]
    assert {"type": "provenance"} in trainer["callbacks"]
    if config == AS_CODED:  # the package's selection rule: validation F1
        assert (rest["validation_data_path"], trainer["validation_metric"]) == ("data/sst/dev.txt", "+f1")
    else:  # the authors' rule, by name only in this config
        assert (rest["validation_data_path"], trainer["validation_metric"]) == ("data/sst/test.txt", "+macro_f1")
        assert rest["test_data_path"] == "data/sst/test.txt"


def test_the_two_configs_differ_in_the_selection_rule_alone():
    as_coded, test_selected = (Params.from_file(config).as_dict() for config in (AS_CODED, TEST_SELECTED))
    assert test_selected.pop("validation_data_path") == "data/sst/test.txt" != as_coded.pop("validation_data_path")
    assert test_selected["trainer"].pop("validation_metric") == "+macro_f1" and as_coded["trainer"].pop("validation_metric") == "+f1"
    assert as_coded == test_selected


@pytest.mark.parametrize("rule", ["true", "false"])
def test_the_kept_epoch_is_the_one_of_best_selection_score(tmp_path, rule):
    """A tiny run of three epochs: the archive is the epoch of best test macro-F1 under the authors'
    rule (its `allennlp evaluate` on the test file gives that F1), of best validation F1 otherwise."""
    run = tmp_path / "run"
    in_process("train", TINY, "-s", run, "-o", json.dumps({"random_seed": 3, "numpy_seed": 3, "pytorch_seed": 3}),
               env={"METHOD": "vanilla", "AUTHORS_TEST_SELECTION": rule})
    epochs = sorted(run.glob("metrics_epoch_*.json"), key=lambda path: int(path.stem.rsplit("_", 1)[1]))
    metric = "validation_macro_f1" if rule == "true" else "validation_f1"
    scores = [json.loads(path.read_text())[metric] for path in epochs]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_epoch"] == scores.index(max(scores))
    evaluated = tmp_path / "evaluated.json"
    in_process("evaluate", run / "model.tar.gz", "fixtures/sst/test.txt", "--output-file", evaluated)
    test_macro_f1 = json.loads(evaluated.read_text())["macro_f1"]
    assert test_macro_f1 == pytest.approx(metrics["test_macro_f1"], abs=1e-6)
    if rule == "true":  # validation is the test set: the selection score is the test macro-F1
        assert test_macro_f1 == pytest.approx(max(scores), abs=1e-6)
        assert metrics["best_validation_macro_f1"] == pytest.approx(metrics["test_macro_f1"], abs=1e-6)
    assert (run / "provenance.json").is_file()


def test_the_tiny_config_trains_with_the_clamp_and_the_summed_loss(monkeypatch):
    monkeypatch.setenv("METHOD", "vanilla")
    monkeypatch.setenv("AUTHORS_TEST_SELECTION", "false")
    params = Params.from_file(TINY).pop("model")
    model = Model.from_params(vocab=Vocabulary({"labels": {"positive": 1, "negative": 1}}), params=params)
    assert model.clip_to_unit_interval and model.loss_summed_over_batch and torch.is_tensor(next(model.parameters()))
