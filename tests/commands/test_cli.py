"""The stock allennlp CLI end to end: one training in a subprocess exactly as a user runs it, the
rest through allennlp's own entry point in this process (tests/cli.py)."""
import argparse
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.cli import ALLENNLP, as_subprocess, in_process, last_line

CONFIG = "fixtures/sst_tiny.jsonnet"


def allennlp(*args, method="attention_iat", check=True):
    return in_process(*args, env={"METHOD": method}, check=check)


@pytest.mark.long
def test_train_then_evaluate_through_the_cli(tmp_path):
    run = tmp_path / "run"
    as_subprocess("train", CONFIG, "-s", str(run), env={"METHOD": "attention_iat"})
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("training_clean_loss", "training_adversarial_loss", "training_perturbation_norm",
                "best_validation_f1", "test_f1", "test_accuracy", "test_pearson"):
        assert key in metrics, key
    assert "validation_pearson" not in metrics  # the validation_agreement callback's default
    epoch_metrics = json.loads((run / "metrics_epoch_1.json").read_text())
    assert epoch_metrics["training_loss"] == pytest.approx(
        epoch_metrics["training_clean_loss"] + epoch_metrics["training_adversarial_loss"], rel=1e-4
    )
    assert list((run / "log" / "adversarial").glob("events.out.tfevents.*"))
    # What trained it: one process, at this checkout's commit, with the thread count it ran.
    [process] = json.loads((run / "provenance.json").read_text())
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    assert process["commit"] == (head.stdout.strip() if head.returncode == 0 else None)
    assert process["torch_threads"] >= 1 and process["epochs_completed_before"] == 0
    assert process["versions"]["allennlp"] == "2.10.1" and process["machine"]["cpus"] == os.cpu_count()
    # The kernels' instruction set changes a CPU run's numbers (AVX2 and AVX-512 sum differently).
    assert process["machine"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()

    output = tmp_path / "test_metrics.json"
    result = allennlp("evaluate", str(run / "model.tar.gz"), "fixtures/sst/test.txt", "--output-file", str(output))
    evaluated = json.loads(output.read_text())
    for key in ("accuracy", "f1", "macro_f1", "pearson"):  # the same model and test file as training's evaluation
        assert evaluated[key] == pytest.approx(metrics[f"test_{key}"], abs=1e-6), key
    assert "accuracy" in result.stderr + result.stdout

    # Further agreement measures chosen at evaluation time; the default measure is unchanged.
    measures = [{"type": "leave_one_out"}, {"type": "integrated_gradients", "steps": 4, "detach_attention": True}]
    more = tmp_path / "more_metrics.json"
    allennlp("evaluate", str(run / "model.tar.gz"), "fixtures/sst/test.txt", "--output-file", str(more),
             "-o", json.dumps({"model.agreement_measures": measures}))
    extended = json.loads(more.read_text())
    assert extended["pearson"] == pytest.approx(evaluated["pearson"], abs=1e-9)
    for agreement in ("pearson", "kendall", "top5"):
        for suffix in ("_leave_one_out", "_integrated_gradients_detached"):
            assert f"{agreement}{suffix}" in extended
    assert extended["pearson_leave_one_out"] != extended["pearson"]


@pytest.mark.long
def test_killed_training_recovers_and_finishes(tmp_path):
    run = tmp_path / "run"
    epochs = 8  # far more than pass between a checkpoint and the kill
    overrides = json.dumps({
        "trainer.num_epochs": epochs,
        "trainer.callbacks": [{"type": "adversarial_statistics"}, {"type": "validation_agreement", "enabled": True},
                              {"type": "provenance"}],
        "data_loader.batch_sampler.shuffle": False,  # the same batches after recovery as without the kill
    })
    environment = {**os.environ, "METHOD": "word_at"}
    process = subprocess.Popen(
        [*ALLENNLP, "train", CONFIG, "-s", str(run), "-o", overrides],
        env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + 240
    # A complete checkpoint, then a kill mid-epoch; a kill mid-save is tests/training/test_checkpointer.py's.
    while not list(run.glob("model_state_e*")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, "training ended before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert list(run.glob("model_state_e*")), "no checkpoint within the deadline"
    assert not (run / "metrics.json").exists()
    # The latest complete checkpoint, and the epochs it holds, as the kill left them.
    completed = max(int(path.name.split("_e")[1].split("_")[0]) for path in run.glob("model_state_e*_b0.th"))
    before = {epoch: (run / f"metrics_epoch_{epoch}.json").stat().st_mtime_ns for epoch in range(completed)}

    allennlp("train", CONFIG, "-s", str(run), "-o", overrides, "--recover", method="word_at")
    # Training resumed after the checkpoint's epochs (allennlp logs them again, but skips their
    # batches): their metrics files are the ones written before the kill, not rewritten.
    assert {epoch: (run / f"metrics_epoch_{epoch}.json").stat().st_mtime_ns for epoch in range(completed)} == before
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epoch"] == epochs - 1
    last_epoch = json.loads((run / f"metrics_epoch_{epochs - 1}.json").read_text())
    assert metrics["validation_pearson"] == last_epoch["validation_pearson"]  # the agreement callback ran after recovery
    assert (run / "model.tar.gz").exists()
    # Both processes that trained it are named, the second with the epochs it took from the checkpoint.
    assert [process["epochs_completed_before"] for process in json.loads((run / "provenance.json").read_text())] == \
        [0, completed]
    # The recovered run ends where the same training run without a kill ends (fixed seed, CPU).
    uninterrupted = tmp_path / "uninterrupted"
    allennlp("train", CONFIG, "-s", str(uninterrupted), "-o", overrides, method="word_at")
    expected = json.loads((uninterrupted / "metrics.json").read_text())
    compared = [key for key in expected if key.split("_")[0] in ("training", "validation", "best", "test")
                and not any(word in key for word in ("duration", "memory", "epochs", "start_epoch"))]
    assert {"best_validation_f1", "training_loss", "validation_pearson", "test_f1"} <= set(compared)
    assert {key: metrics[key] for key in compared} == pytest.approx({key: expected[key] for key in compared}, rel=1e-5)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ('{"model.perturbation.epsilon": -1}', "model.perturbation.epsilon must be a finite number >= 0"),
        ('{"model.perturbation.type": "attention_magic"}', "attention_magic"),
        ('{"model.adversarial_weight": -2}', "model.adversarial_weight must be a finite number >= 0"),
    ],
)
def test_bad_configuration_fails_with_the_key_named(tmp_path, overrides, message):
    result = allennlp("train", CONFIG, "-s", str(tmp_path / "run"), "-o", overrides, check=False)
    assert result.returncode != 0
    assert "ConfigurationError" in result.stderr and message in result.stderr
    assert not (tmp_path / "run" / "model.tar.gz").exists()


def test_malformed_tree_fails_naming_file_and_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(Path("fixtures/sst/train.txt").read_text() + "(3 (2 broken (3 tree)\n")
    line = len(bad.read_text().splitlines())
    result = allennlp(
        "train", CONFIG, "-s", str(tmp_path / "run"), "-o", json.dumps({"train_data_path": str(bad)}), check=False
    )
    assert result.returncode != 0
    assert f"{bad}:{line}: unbalanced parentheses" in result.stderr


from tests.archives import vanilla_archive  # noqa: E402,F401  (a session fixture: one tiny trained model)


def test_evaluating_a_file_without_examples_names_the_file(tmp_path, vanilla_archive):
    data = tmp_path / "nothing.txt"
    data.write_text("(2 (2 only) (2 neutral))\n")  # no binary example; an empty file is tested on the reader
    output = tmp_path / "metrics.json"
    result = allennlp("evaluate", vanilla_archive, str(data), "--output-file", str(output), check=False)
    assert result.returncode != 0
    assert last_line(result).endswith(f"{data}: nothing to read: it holds no example")
    assert not output.exists()


def test_a_truncated_or_foreign_archive_is_named(tmp_path, vanilla_archive):
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(Path(vanilla_archive).read_bytes()[:3000])
    foreign = tmp_path / "notes.tar.gz"
    foreign.write_text("not an archive")
    # allennlp's own evaluate and predict; the package's commands load through the same function.
    for archive, cause, command in (
        (truncated, "EOFError", ["evaluate", str(truncated), "fixtures/sst/test.txt"]),
        (foreign, "ReadError", ["predict", str(foreign), "fixtures/sst/test.txt", "--predictor", "attention_saliency",
                                "--output-file", str(tmp_path / "out.jsonl")]),
    ):
        result = allennlp(*command, check=False)
        assert result.returncode != 0
        assert f"not a model archive: {archive} ({cause}: " in last_line(result), command[0]
    assert not (tmp_path / "out.jsonl").exists()
    from attention_perturb.archives import NotAModelArchive
    from attention_perturb.commands.stability import stability_from_args

    with pytest.raises(NotAModelArchive, match=f"not a model archive: {truncated} \\(EOFError: "):
        stability_from_args(argparse.Namespace(
            archive_file=str(truncated), input_file="fixtures/sst/test.txt", second_archive=None, cuda_device=-1,
            noise_std=0.01, synonym_words=1, top_k=5, max_instances=None, batch_size=64, seed=0, output_file=None,
            pgd_radius=0.01, pgd_steps=10, pgd_clip=False))


def test_a_raw_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    import shutil

    raw = tmp_path / "raw"
    shutil.copytree("fixtures/imdb", raw)
    review = sorted((raw / "aclImdb" / "train" / "pos").glob("*.txt"))[0]
    review.write_bytes(b"a fine first line\nthen a \xff byte\n")
    output = tmp_path / "imdb"
    result = allennlp("make-dataset", "imdb", str(raw), "-o", str(output), check=False)
    assert result.returncode != 0
    assert last_line(result).endswith(f"{review}:2: not UTF-8 text (invalid start byte at byte 25)")
    assert not output.exists()
