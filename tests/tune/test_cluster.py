"""`allennlp tune search --ray-address` on real Ray clusters started with `ray start` on 127.0.0.1
(tests/tune/loopback_cluster.py): a head and a worker node of 1 CPU each, with token
authentication, run a 2-trial search, one trial per node; the search, widened to 3 trials, is then
resumed on a new cluster without authentication. A client that cannot connect says why in one line."""
import json
import os
import subprocess
import sys
import time

import pytest

from tests.cli import in_process
from tests.tune.loopback_cluster import RAY_ENVIRONMENT, free_ports, loopback_cluster

# Ray's own knobs: give up after one connection attempt of at most 5 s (instead of 20 of 30 s).
FAST_FAILURE = {"RAY_gcs_server_port_wait_time_s": "1", "RAY_py_gcs_connect_timeout_s": "5"}


def client_environment(**variables):
    """This process's environment without Ray authentication settings, plus `variables`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH_")}
    return {**environment, **RAY_ENVIRONMENT, **variables}


def search(log_dir, num_samples, address, environment):
    command = [
        sys.executable, "-m", "allennlp", "tune", "search", "--experiment-name", "sst_attention_iat",
        "--num-gpus", "0", "--cpus-per-trial", "1", "--gpus-per-trial", "0",
        "--search-space", "fixtures/tune/search_space.json", "--num-samples", str(num_samples),
        "--base-config", "fixtures/tune/sst_tiny_search.jsonnet", "--include-package", "attention_perturb",
        "--log-dir", str(log_dir), "--ray-address", address,
    ]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=900)


def error_line(result):
    assert result.returncode == 1, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --ray-address: "), result.stderr[-3000:]
    return last


def node_of(run):
    return json.loads((run / "node.json").read_text())["node_id"]


@pytest.mark.long(seconds=300)
def test_search_on_two_nodes_with_token_authentication_resumed_on_a_new_cluster(tmp_path, monkeypatch):
    token_file = tmp_path / "auth_token"
    token_file.write_text(os.urandom(16).hex())
    experiment = tmp_path / "logs" / "sst_attention_iat"
    # The client finds the cluster's token where Ray looks for it, but has RAY_AUTH_MODE unset,
    # as a user's shell has: Ray alone would be refused (issue 15).
    client = client_environment(RAY_AUTH_TOKEN_PATH=str(token_file))

    started = time.time()
    with loopback_cluster("token", token_file) as cluster:
        print(f"\ntwo-node cluster up in {time.time() - started:.0f} s")
        assert sorted(cluster.roles.values()) == ["head", "worker"]

        started = time.time()
        refused = search(tmp_path / "logs", 2, cluster.address, {**client, "RAY_AUTH_MODE": "disabled", **FAST_FAILURE})
        message = error_line(refused)
        print(f"refused in {time.time() - started:.0f} s")
        assert f"--ray-address: {cluster.address}: cannot connect" in message
        assert "refused this client's authentication" in message and "RAY_AUTH_MODE=token" in message
        assert "RAY_AUTH_MODE is disabled (authentication mode disabled)" in message
        assert f"RAY_AUTH_TOKEN_PATH ({token_file} exists)" in message and "/.ray/auth_token" in message

        started = time.time()
        result = search(tmp_path / "logs", 2, cluster.address, client)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        print(f"2 trials on the two-node cluster: {time.time() - started:.0f} s")
        retried = [line for line in result.stderr.splitlines() if "refused a client without token" in line]
        assert retried, result.stderr[-3000:]  # then connected with the token
        print(retried[0])
        assert "0 of 2 trials finished, running 2" in result.stdout
        assert "[2/2]" in result.stdout
        nodes = {run: node_of(experiment / run) for run in ("run_000", "run_001")}
        print("trials per node:", {cluster.roles[node]: run for run, node in nodes.items()})
        assert sorted(cluster.roles[node] for node in nodes.values()) == ["head", "worker"]
    first_archive = experiment / "run_000" / "trial" / "model.tar.gz"
    first_mtime = first_archive.stat().st_mtime_ns

    # That cluster is gone; a new one (one node, no authentication) resumes the search widened to 3.
    started = time.time()
    with loopback_cluster("disabled", workers=0) as cluster:
        print(f"one-node cluster up in {time.time() - started:.0f} s")
        started = time.time()
        result = search(tmp_path / "logs", 3, cluster.address, client)
        print(f"1 more trial on it: {time.time() - started:.0f} s")
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        assert "2 of 3 trials finished, running 1" in result.stdout
        assert "run_002 finished" in result.stdout and "run_000 finished" not in result.stdout
        assert cluster.roles[node_of(experiment / "run_002")] == "head"
    assert first_archive.stat().st_mtime_ns == first_mtime

    in_process("tune", "report", "--log-dir", experiment)
    records = [json.loads(line) for line in (experiment / "results.jsonl").read_text().splitlines()]
    assert sorted(record["trial"] for record in records) == ["run_000", "run_001", "run_002"]
    for record in records:
        assert record["node_id"] == node_of(experiment / record["trial"])
        assert record["node_ip"]
    assert len({record["node_id"] for record in records}) == 3  # head and worker, then the new head


@pytest.mark.long
def test_search_says_in_one_line_why_it_cannot_connect(tmp_path):
    address = f"127.0.0.1:{free_ports(1)[0]}"  # nothing listens there
    missing = tmp_path / "no_token"
    started = time.time()
    result = search(tmp_path / "logs", 1, address, client_environment(RAY_AUTH_TOKEN_PATH=str(missing), **FAST_FAILURE))
    message = error_line(result)
    assert message.startswith(f"error: --ray-address: {address}: cannot connect to the Ray cluster (no Ray cluster "
                              "answered there;")
    assert "This client's RAY_AUTH_MODE is unset (authentication mode disabled)" in message
    assert f"Ray looks for a token in RAY_AUTH_TOKEN (unset), RAY_AUTH_TOKEN_PATH ({missing} is missing), then " in message
    assert "Traceback" not in result.stderr
    print(f"failed in {time.time() - started:.0f} s")


def test_without_ray_address_a_new_local_ray_starts_whatever_ray_address_says(monkeypatch):
    """RAY_ADDRESS (or a `ray start` on this machine) would otherwise make `ray.init` join that
    cluster, and refuse the local Ray's CPU count there."""
    import ray

    from attention_perturb.tune.search import start_ray

    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{free_ports(1)[0]}")  # nothing listens there
    start_ray(None, num_cpus=1, num_gpus=0)
    try:
        assert ray.cluster_resources()["CPU"] == 1 and "GPU" not in ray.cluster_resources()
        assert ray.cluster_resources()["object_store_memory"] == 100 * 1024 * 1024  # trials exchange only metrics
        assert ray.get_runtime_context().gcs_address != os.environ["RAY_ADDRESS"]
        trial_on_this_node(monkeypatch)
    finally:
        ray.shutdown()


def trial_on_this_node(monkeypatch):
    """`run_trial`, the trainable Ray runs in a worker, called here on the driver's node: it gives
    `train_trial` the node it runs on and reports the metrics it returns."""
    import socket

    import ray

    from attention_perturb.tune import search

    trained, reported = [], []
    monkeypatch.setattr(search, "train_trial", lambda *arguments: trained.append(arguments) or {"best_epoch": 1})
    monkeypatch.setattr(search.tune, "report", reported.append)
    search.run_trial({"trial": {"run": "run_000"}, "settings": {"cwd": "."}})
    node = {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname()}
    assert trained == [({"run": "run_000"}, {"cwd": "."}, node)] and reported == [{"best_epoch": 1}]
