"""allennlp's distributed trainer across two node ranks, started as two `allennlp train --node-rank`
commands (one process each, gloo, the primary on 127.0.0.1) as a user would on two machines, against
one process on the same data with the same seed.

The data are the SST fixture's non-neutral trees, an even number of them in each split, so that the
ranks' shards (every other tree) are of equal size; each rank trains on its shard as one batch. Then
the average of the ranks' gradients is the single process's full-batch gradient (Attention iAT's
perturbation is computed sentence by sentence, so it does not depend on the batch either), and the
two runs differ only by floating-point summation order."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.cli import in_process
from tests.tune.loopback_cluster import free_ports

CONFIG = "fixtures/sst_tiny.jsonnet"
EPOCHS = 4
# What the two runs may differ by: float32 rounding of sums taken in another order, over 4 Adam steps.
TOLERANCE = 1e-5
COMPARED = ("training_loss", "training_accuracy", "training_f1", "validation_loss", "validation_accuracy",
            "validation_f1", "best_validation_loss", "best_validation_f1", "best_epoch")


def balanced_split(source, target):
    """The non-neutral trees of `source`, an even number, so that every other one is half of them."""
    trees = [line for line in open(source, encoding="utf-8") if line.strip() and not line.startswith("(2 ")]
    target.write_text("".join(trees[: len(trees) // 2 * 2]), encoding="utf-8")
    return str(target)


def overrides(tmp_path):
    return {
        "train_data_path": balanced_split("fixtures/sst/train.txt", tmp_path / "train.txt"),
        "validation_data_path": balanced_split("fixtures/sst/dev.txt", tmp_path / "dev.txt"),
        "test_data_path": balanced_split("fixtures/sst/test.txt", tmp_path / "test.txt"),
        "data_loader.batch_sampler.batch_size": 64,  # the whole (shard of the) training set in one batch
        "trainer.num_epochs": EPOCHS,
        "trainer.optimizer.lr": 0.01,  # 10 × the config's, for the model to move visibly in 4 steps
    }


def train(serialization_dir, config_overrides, *flags):
    return subprocess.Popen(
        [sys.executable, "-m", "allennlp", "train", CONFIG, "-s", str(serialization_dir),
         "-o", json.dumps(config_overrides), *flags],
        env={**os.environ, "METHOD": "attention_iat", "GLOO_SOCKET_IFNAME": "lo"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def finish(processes, timeout):
    """Waits for every process; kills the lot (their process groups) if one fails or time runs out."""
    deadline = time.time() + timeout
    try:
        for process in processes:
            _, stderr = process.communicate(timeout=max(1.0, deadline - time.time()))
            assert process.returncode == 0, stderr[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def max_weight_difference(first, second):
    a, b = (torch.load(path / "best.th", map_location="cpu") for path in (first, second))
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


@pytest.mark.long(seconds=100)
def test_two_node_ranks_train_the_model_one_process_trains(tmp_path):
    single_overrides = overrides(tmp_path)
    started = time.time()
    in_process("train", CONFIG, "-s", tmp_path / "single", "-o", json.dumps(single_overrides), env={"METHOD": "attention_iat"})
    single_seconds = time.time() - started

    port = free_ports(1)[0]
    distributed = {**single_overrides, "distributed": {
        "cuda_devices": [-1], "num_nodes": 2, "primary_address": "127.0.0.1", "primary_port": port}}
    started = time.time()
    # Two "machines": each its own command, node rank and serialization dir (on its own disk).
    finish([train(tmp_path / f"node{rank}", distributed, "--node-rank", str(rank)) for rank in (0, 1)], timeout=600)
    ranks_seconds = time.time() - started

    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    nodes = [json.loads((tmp_path / f"node{rank}" / "metrics.json").read_text()) for rank in (0, 1)]
    differences = {key: max(abs(node[key] - single[key]) for node in nodes) for key in COMPARED}
    weights = max_weight_difference(tmp_path / "single", tmp_path / "node0")
    print(f"\none process {single_seconds:.0f} s (in this process), two node ranks {ranks_seconds:.0f} s (wall, with start-up)")
    print("metric: one process | rank 0 | rank 1")
    for key in COMPARED:
        print(f"{key}: {single[key]:.8g} | {nodes[0][key]:.8g} | {nodes[1][key]:.8g}")
    print(f"largest metric difference {max(differences.values()):.2e}, largest weight difference {weights:.2e}")
    for key in COMPARED:
        assert differences[key] == pytest.approx(0, abs=TOLERANCE), key
    assert weights < TOLERANCE
    # Both ranks hold the same synchronised model ...
    assert max_weight_difference(tmp_path / "node0", tmp_path / "node1") < TOLERANCE
    # ... and every epoch agrees, while the loss moved by far more than the tolerance between epochs.
    for epoch in range(EPOCHS):
        by_epoch = [json.loads((tmp_path / run / f"metrics_epoch_{epoch}.json").read_text())
                    for run in ("single", "node0", "node1")]
        for key in ("training_loss", "validation_loss"):
            assert by_epoch[1][key] == pytest.approx(by_epoch[0][key], abs=TOLERANCE), (epoch, key)
            assert by_epoch[2][key] == pytest.approx(by_epoch[0][key], abs=TOLERANCE), (epoch, key)
    # allennlp evaluates the test set after training on each node's local primary, through that rank's
    # shard: each rank's test_* covers its half of the test trees (run `allennlp evaluate` for all).
    assert nodes[0]["test_loss"] != pytest.approx(nodes[1]["test_loss"], abs=TOLERANCE)
    assert (nodes[0]["test_loss"] + nodes[1]["test_loss"]) / 2 == pytest.approx(single["test_loss"], abs=TOLERANCE)
    first, last = (json.loads((tmp_path / "single" / f"metrics_epoch_{e}.json").read_text()) for e in (0, EPOCHS - 1))
    assert abs(first["training_loss"] - last["training_loss"]) > 100 * TOLERANCE
