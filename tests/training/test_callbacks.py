"""The trainer callbacks, driven by hand on a real allennlp trainer over the tiny SST model, their
numbers checked against sums taken in the test."""
import json
import struct

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.models import Model
from allennlp.training import GradientDescentTrainer

from attention_perturb.data.dataset_readers.sst import SstTreesReader
from attention_perturb.provenance import provenance
from attention_perturb.training.callbacks import (
    AdversarialStatisticsCallback,
    ProvenanceCallback,
    StopAtValidationCeilingCallback,
    ValidationAgreementCallback,
)


@pytest.fixture(scope="module")
def sst():
    """The tiny SST model (Attention iAT) and the training fixture's instances."""
    instances = list(SstTreesReader().read("fixtures/sst/train.txt"))
    vocab = Vocabulary.from_instances(instances)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("METHOD", "attention_iat")
        return Model.from_params(vocab=vocab, params=Params.from_file("fixtures/sst_tiny.jsonnet").pop("model")), instances


def make_trainer(sst, tmp_path, validation_metric="+accuracy"):
    model, instances = sst
    loader = SimpleDataLoader(instances, 8, vocab=model.vocab)
    return GradientDescentTrainer(model, torch.optim.SGD(model.parameters(), lr=0.1), loader,
                                  serialization_dir=str(tmp_path), validation_metric=validation_metric, num_epochs=1)


def statistics(clean, adversarial, norm):
    """A batch's output as the model gives it: float32 scalars."""
    return {"clean_loss": torch.tensor(clean), "adversarial_loss": torch.tensor(adversarial),
            "perturbation_norm": torch.tensor(norm), "loss": torch.tensor(clean + adversarial)}


def scalars(event_file):
    """(tag, step) -> value of the scalars in a TensorBoard event file (TFRecord framing: length,
    its CRC, the Event protobuf, its CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    found, data = {}, event_file.read_bytes()
    while data:
        length = struct.unpack("<Q", data[:8])[0]
        event = Event.FromString(data[12:12 + length])
        data = data[12 + length + 4:]
        for value in event.summary.value:
            found[(value.tag, event.step)] = value.simple_value
    return found


def feed(callback, trainer, epoch, outputs, is_training=True):
    callback.on_batch(trainer, [{}] * len(outputs), outputs, {}, epoch, 1, is_training)


def test_the_epoch_means_are_over_the_training_batches_that_report_statistics(sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    callback = AdversarialStatisticsCallback(str(tmp_path))
    # Values a float32 sum would round (0.1 + 0.2 in float32 is 0.30000001192...).
    feed(callback, trainer, 0, [statistics(0.1, 2.0, 0.5)])
    feed(callback, trainer, 0, [statistics(0.2, 0.0, 1.5), {"loss": torch.tensor(9.0)}])  # vanilla-like output: left out
    feed(callback, trainer, 0, [statistics(100.0, 100.0, 100.0)], is_training=False)  # validation: left out
    metrics = {"training_loss": 4.0}
    callback.on_epoch(trainer, metrics, 0)
    expected = {"training_loss": 4.0, "training_clean_loss": (float(torch.tensor(0.1)) + float(torch.tensor(0.2))) / 2,
                "training_adversarial_loss": 1.0, "training_perturbation_norm": 1.0}
    assert metrics == pytest.approx(expected, abs=1e-12)
    # The trainer's file for the epoch is rewritten with them.
    assert json.loads((tmp_path / "metrics_epoch_0.json").read_text()) == pytest.approx(expected, abs=1e-12)

    # The next epoch starts from nothing.
    feed(callback, trainer, 1, [statistics(5.0, 6.0, 7.0)])
    metrics = {}
    callback.on_epoch(trainer, metrics, 1)
    second = {"training_clean_loss": 5.0, "training_adversarial_loss": 6.0, "training_perturbation_norm": 7.0}
    assert metrics == pytest.approx(second)
    callback.on_end(trainer)
    events = list((tmp_path / "log" / "adversarial").glob("events.out.tfevents.*"))
    assert len(events) == 1
    assert scalars(events[0]) == pytest.approx({
        **{(name, 0): value for name, value in expected.items() if name != "training_loss"},
        **{(name, 1): value for name, value in second.items()},
    })


def test_batches_of_an_epoch_never_closed_are_forgotten_when_the_epoch_changes(sst, tmp_path):
    """The sums belong to one epoch: batches of an epoch that never reached on_epoch (a trainer
    stopped mid-epoch and run again in the same process) do not leak into the next one's means."""
    trainer = make_trainer(sst, tmp_path)
    callback = AdversarialStatisticsCallback(str(tmp_path), tensorboard=False)
    feed(callback, trainer, 2, [statistics(50.0, 50.0, 50.0)] * 3)
    feed(callback, trainer, 3, [statistics(1.0, 3.0, 2.0), statistics(2.0, 1.0, 4.0)])
    metrics = {}
    callback.on_epoch(trainer, metrics, 3)
    assert metrics == pytest.approx({"training_clean_loss": 1.5, "training_adversarial_loss": 2.0,
                                     "training_perturbation_norm": 3.0})
    assert not (tmp_path / "log").exists()  # tensorboard=False writes no events


def test_nothing_is_added_without_statistics_or_before_the_first_epoch(sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    callback = AdversarialStatisticsCallback(str(tmp_path))
    for epoch in (0, -1):  # no batch at all
        metrics = {}
        callback.on_epoch(trainer, metrics, epoch)
        assert metrics == {}
    feed(callback, trainer, 0, [{"loss": torch.tensor(1.0)}])  # vanilla
    metrics = {"training_loss": 1.0}
    callback.on_epoch(trainer, metrics, 0)
    assert metrics == {"training_loss": 1.0} and not (tmp_path / "metrics_epoch_0.json").exists()
    # Older allennlp trainers called epoch callbacks with epoch -1 before training; 2.10.1's never
    # does so, but an epoch below 0 still adds nothing.
    feed(callback, trainer, -1, [statistics(1.0, 1.0, 1.0)])
    callback.on_epoch(trainer, metrics, -1)
    assert metrics == {"training_loss": 1.0} and not (tmp_path / "metrics_epoch_-1.json").exists()


def test_an_epoch_without_batches_after_one_with_them_adds_nothing(sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    callback = AdversarialStatisticsCallback(str(tmp_path), tensorboard=False)
    feed(callback, trainer, 0, [statistics(1.0, 2.0, 3.0)])
    callback.on_epoch(trainer, {}, 0)
    metrics = {}
    callback.on_epoch(trainer, metrics, 1)
    assert metrics == {}


def test_an_epoch_logged_after_on_end_still_reaches_tensorboard(sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    callback = AdversarialStatisticsCallback(str(tmp_path))
    for epoch in (0, 1):
        feed(callback, trainer, epoch, [statistics(1.0, 2.0, 3.0)])
        callback.on_epoch(trainer, {}, epoch)
        callback.on_end(trainer)
    # (Two writers opened in the same second share a file name: the second's file replaces the first's.)
    events = sorted((tmp_path / "log" / "adversarial").glob("events.out.tfevents.*"))
    assert 1 in {step for event_file in events for _, step in scalars(event_file)}


def test_a_secondary_worker_adds_the_means_but_writes_nothing(sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    callback = AdversarialStatisticsCallback(str(tmp_path))
    feed(callback, trainer, 0, [statistics(1.0, 2.0, 3.0)])
    metrics = {}
    callback.on_epoch(trainer, metrics, 0, is_primary=False)
    assert metrics == pytest.approx({"training_clean_loss": 1.0, "training_adversarial_loss": 2.0,
                                     "training_perturbation_norm": 3.0})
    assert not (tmp_path / "metrics_epoch_0.json").exists() and not (tmp_path / "log").exists()


@pytest.mark.parametrize("enabled", [True, False])
def test_validation_agreement_follows_its_setting_during_training_and_is_on_after_it(enabled, sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    trainer.model.measure_agreement = not enabled
    callback = ValidationAgreementCallback(str(tmp_path), enabled=enabled)
    callback.on_start(trainer)
    assert trainer.model.measure_agreement is enabled
    callback.on_end(trainer)
    assert trainer.model.measure_agreement is True


def test_validation_agreement_is_off_by_default(sst, tmp_path):
    trainer = make_trainer(sst, tmp_path)
    trainer.model.measure_agreement = True
    ValidationAgreementCallback(str(tmp_path)).on_start(trainer)
    assert trainer.model.measure_agreement is False


@pytest.mark.parametrize("best, ceiling, patience", [(0.99, None, 5), (1.0, None, 0), (0.7, 0.7, 0), (0.69, 0.7, 5)])
def test_the_ceiling_ends_training_once_the_best_metric_reaches_it(best, ceiling, patience, sst, tmp_path):
    """Default ceiling 1.0; reaching it exactly counts; patience 0 is what makes allennlp stop."""
    trainer = make_trainer(sst, tmp_path)
    trainer._metric_tracker._patience = 5
    callback = StopAtValidationCeilingCallback(str(tmp_path), **({} if ceiling is None else {"ceiling": ceiling}))
    callback.on_epoch(trainer, {"best_validation_accuracy": best, "best_validation_loss": 2.0}, 0)
    assert trainer._metric_tracker._patience == patience


def test_the_ceiling_needs_one_metric_to_maximise(sst, tmp_path):
    message = "^trainer.callbacks: stop_at_validation_ceiling needs one validation_metric to maximise, e.g. '\\+accuracy'$"
    for validation_metric in ("-loss", ["+accuracy", "+f1"]):
        trainer = make_trainer(sst, tmp_path, validation_metric)
        with pytest.raises(ConfigurationError, match=message):
            StopAtValidationCeilingCallback(str(tmp_path)).on_epoch(trainer, {"best_validation_accuracy": 1.0}, 0)
    # No best value yet: nothing to compare.
    trainer = make_trainer(sst, tmp_path)
    trainer._metric_tracker._patience = 5
    StopAtValidationCeilingCallback(str(tmp_path), ceiling=-1.0).on_epoch(trainer, {}, 0)
    assert trainer._metric_tracker._patience == 5


def test_provenance_adds_one_entry_per_process_with_the_epochs_it_started_after(sst, tmp_path, monkeypatch):
    run = tmp_path / "run"
    trainer = make_trainer(sst, run)
    monkeypatch.chdir(tmp_path)  # the file goes to the serialization dir, wherever the process runs
    ProvenanceCallback(str(run)).on_start(trainer)
    trainer._start_after_epochs_completed = 3  # as allennlp sets it for a run continued with --recover
    ProvenanceCallback(str(run)).on_start(trainer)
    ProvenanceCallback(str(run)).on_start(trainer, is_primary=False)  # a secondary worker writes nothing
    written = (run / "provenance.json").read_text()
    entries = json.loads(written)
    assert written == json.dumps(entries, indent=1) + "\n"
    assert [entry["epochs_completed_before"] for entry in entries] == [0, 3]
    expected = provenance()
    for entry in entries:
        assert set(entry) == {*expected, "epochs_completed_before"}
        assert entry["commit"] == expected["commit"] and entry["torch_threads"] == expected["torch_threads"]
    assert not (tmp_path / "provenance.json").exists()
