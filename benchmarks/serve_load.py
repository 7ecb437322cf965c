"""
Load on `allennlp serve-compare`: CLIENTS concurrent clients on loopback, each sending REQUESTS
requests one after the other (a keep-alive connection each, `POST /api/compare` with an SST test
sentence, a different one for every request while the test set lasts), against the command started as a
user starts it with three SST models. Prints the
machine and its load, failed requests (target 0), latency p50 / p95 / p99 / max (target p95 <=
250 ms), throughput, and the server's batches by size.

    .venv/bin/python benchmarks/serve_load.py [--archives A B C] [--clients 20] [--requests 50] [--measure gradient_x_input]

Without --archives it uses (training them first if missing, about a minute each) three quick SST
models: `training_configs/sst_{vanilla,attention_at,attention_iat}.jsonnet` for one epoch, in
runs/serve_load/. Bounded: each request may take --request-timeout seconds, the whole run
--deadline seconds. Connects to 127.0.0.1 only.
"""
import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from attention_perturb.serve.browser import serve_compare_process  # noqa: E402

QUICK_METHODS = ("vanilla", "attention_at", "attention_iat")


def quick_archives(folder: Path):
    archives = []
    for method in QUICK_METHODS:
        archive = folder / method / "model.tar.gz"
        if not archive.exists():
            print(f"training {archive} (one epoch)", flush=True)
            subprocess.run([sys.executable, "-m", "allennlp", "train", f"training_configs/sst_{method}.jsonnet",
                            "-s", str(archive.parent), "-o", json.dumps({"trainer.num_epochs": 1})],
                           cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        archives.append(str(archive))
    return archives


def sst_sentences(path: Path):
    import attention_perturb  # noqa: F401
    from attention_perturb.data.dataset_readers.sst import parse_sst_tree

    return [" ".join(parse_sst_tree(line)[1]) for line in path.read_text().splitlines() if line.strip()]


def machine():
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    return f"{platform.node()}: {os.cpu_count()} CPUs ({model}), Python {platform.python_version()}"


def cpu_seconds(pid):
    """User + system CPU time of a process so far (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average():
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def client(url, sentences, count, measure, timeout, latencies, failures, start_gate):
    parsed = urllib.parse.urlsplit(url)
    assert parsed.hostname == "127.0.0.1", "the load benchmark talks to loopback only"
    connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    start_gate.wait()
    for index in range(count):
        body = json.dumps({"text": sentences[index % len(sentences)], "measure": measure})
        started = time.perf_counter()
        try:
            connection.request("POST", "/api/compare", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            latency = time.perf_counter() - started
            answer = json.loads(payload)
            if response.status != 200 or any(model["error"] for model in answer["models"]):
                failures.append(f"status {response.status}: {payload[:200]!r}")
            else:
                latencies.append(latency)
        except (OSError, http.client.HTTPException, ValueError) as error:
            failures.append(f"{type(error).__name__}: {error}")
            connection.close()
            connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=timeout)
    connection.close()


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archives", nargs="+", help="model.tar.gz archives (default: three quick SST models)")
    parser.add_argument("--train-dir", default="runs/serve_load", help="where the quick models are trained")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="requests per client")
    parser.add_argument("--measure", default="gradient_x_input")
    parser.add_argument("--data", default="data/sst/test.txt")
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds for the whole load")
    arguments = parser.parse_args()
    os.chdir(REPO_ROOT)
    archives = arguments.archives or quick_archives(REPO_ROOT / arguments.train_dir)
    sentences = sst_sentences(REPO_ROOT / arguments.data)
    print(machine())
    print(f"archives: {' '.join(archives)}")
    with serve_compare_process(archives) as served:
        url = served.url
        # Warm-up: the first passes allocate; they are not part of the measurement.
        for sentence in sentences[:5]:
            warm = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(url).port, timeout=60)
            warm.request("POST", "/api/compare", json.dumps({"text": sentence, "measure": arguments.measure}))
            assert warm.getresponse().status == 200
            warm.close()
        latencies, failures = [], []
        gate = threading.Barrier(arguments.clients + 1)
        threads = [
            threading.Thread(target=client, daemon=True, args=(
                url, sentences[offset * arguments.requests:] + sentences[:offset * arguments.requests],
                arguments.requests, arguments.measure,
                arguments.request_timeout, latencies, failures, gate))
            for offset in range(arguments.clients)
        ]
        for thread in threads:
            thread.start()
        print(f"load average before: {load_average()}")
        gate.wait()
        started, cpu_started = time.perf_counter(), cpu_seconds(served.process.pid)
        for thread in threads:
            thread.join(max(0.0, arguments.deadline - (time.perf_counter() - started)))
        seconds = time.perf_counter() - started
        server_cpu = cpu_seconds(served.process.pid) - cpu_started
        unfinished = sum(thread.is_alive() for thread in threads)
        print(f"load average after: {load_average()}")
        connection = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(url).port, timeout=30)
        connection.request("GET", "/api/batches")
        batches = json.loads(connection.getresponse().read())
    total = arguments.clients * arguments.requests
    print(f"{arguments.clients} clients x {arguments.requests} requests = {total}, measure {arguments.measure}, "
          f"{len(archives)} models per request")
    print(f"answered {len(latencies)}, failed {len(failures)}, unfinished clients {unfinished} (deadline {arguments.deadline:.0f} s)")
    for failure in failures[:5]:
        print(f"  failure: {failure}")
    if latencies:
        milliseconds = [1000 * latency for latency in latencies]
        print(f"latency ms: p50 {percentile(milliseconds, 0.5):.0f}  p95 {percentile(milliseconds, 0.95):.0f}  "
              f"p99 {percentile(milliseconds, 0.99):.0f}  max {max(milliseconds):.0f}  mean {statistics.mean(milliseconds):.0f}")
        print(f"throughput: {len(latencies) / seconds:.1f} requests/s over {seconds:.1f} s")
        print(f"server CPU: {server_cpu:.1f} s, {1000 * server_cpu / len(latencies):.1f} ms per request "
              f"({server_cpu / seconds:.2f} of the {os.cpu_count()} CPUs on average)")
    print(f"server batches by size (warm-up included): {batches}")
    sys.exit(1 if failures or unfinished or len(latencies) != total else 0)


if __name__ == "__main__":
    main()
