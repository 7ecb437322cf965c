"""The same config, seed and thread count give identical metrics, to the last digit, in a fresh process
each time: what lets a reviewer rerun any run of a record and get its numbers. Attention RP draws
random perturbations and Word iAT searches neighbours; both go through shuffled bucket batches."""
import json

import pytest

from tests.cli import as_subprocess

CONFIG = "fixtures/sst_tiny.jsonnet"
NOT_RESULTS = ("duration", "memory", "start_epoch", "epoch_start")


def trained_metrics(run, method, threads):
    as_subprocess("train", CONFIG, "-s", str(run), env={"METHOD": method, "OMP_NUM_THREADS": str(threads),
                                                        "MKL_NUM_THREADS": str(threads)})
    metrics = json.loads((run / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if not any(word in key for word in NOT_RESULTS)}


@pytest.mark.long
@pytest.mark.parametrize("method", ["attention_rp", "word_iat"])
def test_a_run_repeated_with_the_same_seed_and_threads_gives_identical_metrics(tmp_path, method):
    first = trained_metrics(tmp_path / "first", method, threads=1)
    second = trained_metrics(tmp_path / "second", method, threads=1)
    assert {"best_validation_f1", "training_loss", "training_perturbation_norm", "test_f1", "test_pearson"} <= set(first)
    assert first == second
    [provenance] = json.loads((tmp_path / "second" / "provenance.json").read_text())
    assert provenance["torch_threads"] == 1
