"""`allennlp tune search` on a local Ray through the real CLI (two trials, stopped with Ctrl-C during
the second, in a process of its own; then resumed in this process, widened to three), then report and plot."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest

from tests.cli import run_cli
from tests.tune.loopback_cluster import RAY_ENVIRONMENT, use_ray_environment


def search_command(log_dir, num_samples, num_cpus=2):
    return [
        sys.executable, "-m", "allennlp", "tune", "search", "--experiment-name", "sst_attention_iat",
        "--num-cpus", str(num_cpus), "--num-gpus", "0", "--cpus-per-trial", "1", "--gpus-per-trial", "0",
        "--search-space", "fixtures/tune/search_space.json", "--num-samples", str(num_samples),
        "--base-config", "fixtures/tune/sst_tiny_search.jsonnet", "--include-package", "attention_perturb",
        "--log-dir", os.path.relpath(log_dir),  # relative, as users type it; trials run in Ray's own folders
    ]


def processes_running(fragment: str) -> List[int]:
    """Process ids whose command line contains `fragment` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # ended meanwhile
                continue
            if fragment in command and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


def interrupted_search(log_dir, num_samples, trial, num_cpus):
    """The search, stopped with Ctrl-C (SIGINT) while `trial`'s training runs. The training is held
    (SIGSTOP) from before the Ctrl-C until the search has exited, so that it cannot finish in the
    seconds Ray gives a stopping trial, as a tiny one otherwise can; released, it meets the SIGTERM
    its dead trial sent it. Output goes to files (a pipe nobody reads could fill and stall it)."""
    stdout, stderr = log_dir / "interrupted.out", log_dir / "interrupted.err"
    training = f"{trial}/trial"
    held: List[int] = []
    with open(stdout, "w") as out, open(stderr, "w") as err:
        process = subprocess.Popen(search_command(log_dir, num_samples, num_cpus),
                                   env={**os.environ, **RAY_ENVIRONMENT}, stdout=out, stderr=err)
        try:
            deadline = time.time() + 300
            while not held and process.poll() is None and time.time() < deadline:
                held = processes_running(training)
                time.sleep(0.05)
            assert process.poll() is None, "the search ended before it could be interrupted"
            assert held, f"no training of {training} within 300 s"
            for pid in held:
                os.kill(pid, signal.SIGSTOP)
            process.send_signal(signal.SIGINT)
            process.wait(timeout=300)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            for pid in held:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
    deadline = time.time() + 60
    while processes_running(training) and time.time() < deadline:
        time.sleep(0.2)
    assert not processes_running(training), f"the training of {training} outlived its search"
    return process.returncode, stdout.read_text(), stderr.read_text()


@pytest.mark.long(seconds=300)
def test_search_resume_report_and_plot(tmp_path, monkeypatch, capsys):
    experiment = tmp_path / "sst_attention_iat"
    # One CPU, so one trial at a time; Ctrl-C (SIGINT) once run_000 has finished and run_001 started.
    returncode, output, stderr = interrupted_search(tmp_path, 2, "sst_attention_iat/run_001", num_cpus=1)
    assert returncode == 1
    assert "0 of 2 trials finished, running 2" in output
    assert "[1/2] run_000 finished" in output
    assert ("error: search stopped with 1 of 2 trials unfinished (run_001); rerun the same command to resume"
            in stderr.splitlines()), stderr[-3000:]  # one line, no traceback
    first_archive = experiment / "run_000" / "trial" / "model.tar.gz"
    first_mtime = first_archive.stat().st_mtime_ns

    # Resumed, widened to 3 trials: run_000 is kept, run_001 trained again, run_002 trained. In this
    # process, as the first search ran in its own: the driver's plan, Ray Tune run and progress lines
    # are then the tests' own calls (the trials still train in Ray's workers).
    use_ray_environment(monkeypatch)
    output = run_cli(monkeypatch, capsys, *search_command(tmp_path, 3)[3:])
    assert "1 of 3 trials finished, running 2" in output
    assert "run_000 finished" not in output
    assert "run_001 finished" in output and "run_002 finished" in output
    assert "[3/3]" in output
    assert first_archive.stat().st_mtime_ns == first_mtime

    plan = json.loads((experiment / "search.json").read_text())
    assert [trial["run"] for trial in plan["trials"]] == ["run_000", "run_001", "run_002"]
    for trial in plan["trials"]:
        run = experiment / trial["run"]
        environment = json.loads((run / "environment.json").read_text())
        assert environment == trial["environment"]
        config = json.loads((run / "trial" / "config.json").read_text())
        assert config["model"]["perturbation"]["epsilon"] == pytest.approx(float(environment["EPSILON"]))
        assert config["random_seed"] == int(environment["SEED"])
        assert 0 <= float(environment["EPSILON"]) <= 30
        assert config["trainer"]["cuda_device"] == -1

    output = run_cli(monkeypatch, capsys, "tune", "report", "--log-dir", str(experiment))
    records = [json.loads(line) for line in (experiment / "results.jsonl").read_text().splitlines()]
    assert sorted(record["trial"] for record in records) == ["run_000", "run_001", "run_002"]
    for record in records:
        trial = experiment / record["trial"] / "trial"
        metrics = json.loads((trial / "metrics.json").read_text())
        assert record["best_validation_f1"] == pytest.approx(metrics["best_validation_f1"])
        assert record["model.perturbation.epsilon"] == pytest.approx(record["EPSILON"])
        assert record["model"] == "sst_attention_iat"
        assert isinstance(record["training_duration"], float)
    assert "| trial | EPSILON | SEED | best_validation_f1 | training_duration |" in output
    best = max(records, key=lambda record: record["best_validation_f1"])
    assert f"best perf: {best['best_validation_f1']}" in output

    for x, name in (("trials", "expected.png"), ("epsilon", "figure4.png")):
        output = run_cli(monkeypatch, capsys, "tune", "plot", "--result-file", str(experiment / "results.jsonl"),
                         "--output-file", str(tmp_path / name), "--data-name", "SST", "--x", x)
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # reproduce-table2 takes each method's ε from the best trial of <search-log-dir>/<dataset>_<method>.
    output = run_cli(monkeypatch, capsys, "reproduce-table2", "--dataset", "sst", "--seeds", "2", "--methods",
                     "attention_iat", "vanilla", "--search-log-dir", str(tmp_path), "-o", str(tmp_path / "table2"),
                     "--dry-run")
    best_epsilon = json.loads((experiment / best["trial"] / "trial" / "config.json").read_text())
    assert f"ε={best_epsilon['model']['perturbation']['epsilon']:g} (best of 3 trials in" in output
    assert "vanilla seed 1" in output and "attention_iat seed 2" in output
    assert not (tmp_path / "table2").exists()
