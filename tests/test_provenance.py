"""Provenance: the checkout's commit and whether what a training reads (`attention_perturb/`,
`training_configs/`, `data/`) differs from it, against throwaway git repositories; the library
versions, CPU and machine; one process's entry; a run folder's record; and the exact one-paragraph
summaries of machines and of runs."""
import datetime
import io
import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata

import pytest
import torch

from attention_perturb import provenance as module
from attention_perturb.provenance import (code_version, cpu_model, library_versions, machine, machine_summary,
                                          provenance, provenance_summary, run_provenance)
from tests.conftest import REPO_ROOT


def git(repo, *arguments):
    return subprocess.run(["git", "-c", "user.name=Test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", *arguments],
                          cwd=repo, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def isolated_git(tmp_path, monkeypatch):
    """git that finds no repository above `tmp_path` and no GIT_DIR from the environment."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))


@pytest.fixture
def checkout(tmp_path, monkeypatch, isolated_git):
    """A committed checkout shaped like the project's, with the package imported from its
    `attention_perturb/` (as PACKAGE_ROOT is); returns (repository, HEAD)."""
    repo = tmp_path / "checkout"
    files = {
        "attention_perturb/__init__.py": "",
        "attention_perturb/models/model.py": "x = 1\n",
        "training_configs/sst.jsonnet": "{}\n",
        "data/README.md": "data\n",
        "benchmarks/results/table.md": "| a |\n",
        "docs/notes.md": "notes\n",
        "README.md": "readme\n",
        ".gitignore": "*.log\n",
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "start")
    monkeypatch.setattr(module, "PACKAGE_ROOT", repo / "attention_perturb")
    return repo, git(repo, "rev-parse", "HEAD").strip()


def test_git_gives_the_output_in_the_package_folder_or_none(checkout, tmp_path, monkeypatch):
    repo, head = checkout
    assert module._git("rev-parse", "HEAD") == head + "\n"
    assert module._git("rev-parse", "--show-prefix") == "attention_perturb/\n"  # run where the package is
    assert module._git("status", "--porcelain") == ""  # clean is not a failure
    assert module._git("rev-parse", "no-such-revision") is None
    assert module._git("no-such-command") is None
    monkeypatch.setattr(module, "PACKAGE_ROOT", tmp_path / "missing")  # cannot even start there
    assert module._git("rev-parse", "HEAD") is None


def test_a_git_that_hangs_gives_none_after_the_timeout(tmp_path, monkeypatch):
    hanging = tmp_path / "bin" / "git"
    hanging.parent.mkdir()
    hanging.write_text("#!/bin/sh\necho late\nexec sleep 5\n")
    hanging.chmod(0o755)
    monkeypatch.setenv("PATH", f"{hanging.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(module, "GIT_TIMEOUT_SECONDS", 0.5)
    started = time.monotonic()
    assert module._git("rev-parse", "HEAD") is None
    assert time.monotonic() - started < 4


def test_a_clean_checkout_gives_its_commit(checkout):
    repo, head = checkout
    assert re.fullmatch("[0-9a-f]{40}", head)
    assert code_version() == {"commit": head, "dirty": False}
    git(repo, "commit", "-q", "--allow-empty", "-m", "second")
    assert code_version() == {"commit": git(repo, "rev-parse", "HEAD").strip(), "dirty": False}
    assert code_version()["commit"] != head


@pytest.mark.parametrize("path", ["attention_perturb/models/model.py", "training_configs/sst.jsonnet",
                                  "data/README.md"])
def test_a_change_to_what_a_training_reads_makes_it_dirty(checkout, path):
    repo, head = checkout
    (repo / path).write_text("changed\n")
    assert code_version() == {"commit": head, "dirty": True}
    git(repo, "add", path)  # staged but not committed
    assert code_version() == {"commit": head, "dirty": True}
    git(repo, "commit", "-q", "-m", "change")
    assert code_version() == {"commit": git(repo, "rev-parse", "HEAD").strip(), "dirty": False}


@pytest.mark.parametrize("path", ["attention_perturb/new.py", "training_configs/new.jsonnet", "data/new/train.txt"])
def test_an_untracked_file_in_what_a_training_reads_makes_it_dirty(checkout, path):
    repo, head = checkout
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text("new\n")
    assert code_version() == {"commit": head, "dirty": True}


def test_a_deleted_file_makes_it_dirty(checkout):
    repo, head = checkout
    (repo / "training_configs/sst.jsonnet").unlink()
    assert code_version() == {"commit": head, "dirty": True}


def test_changes_elsewhere_and_ignored_files_leave_it_clean(checkout):
    repo, head = checkout
    (repo / "benchmarks/results/table.md").write_text("| b |\n")
    (repo / "benchmarks/results/new.md").write_text("new\n")
    (repo / "docs/notes.md").unlink()
    (repo / "README.md").write_text("changed\n")
    (repo / "record.json").write_text("{}\n")
    (repo / "data/train.log").write_text("ignored\n")
    (repo / "attention_perturb/run.log").write_text("ignored\n")
    assert git(repo, "status", "--porcelain") != ""
    assert code_version() == {"commit": head, "dirty": False}


def test_a_status_git_cannot_give_leaves_dirty_unknown(checkout):
    repo, head = checkout
    (repo / ".git" / "index").write_bytes(b"not an index")  # rev-parse does not read it, status does
    assert code_version() == {"commit": head, "dirty": None}


def test_outside_a_checkout_both_are_none(tmp_path, monkeypatch, isolated_git):
    installed = tmp_path / "site-packages" / "attention_perturb"
    installed.mkdir(parents=True)
    monkeypatch.setattr(module, "PACKAGE_ROOT", installed)
    assert module._git("rev-parse", "HEAD") is None
    assert code_version() == {"commit": None, "dirty": None}


def test_this_checkouts_commit():
    """The HEAD of the checkout the package is imported from (a copy of it outside git: none)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=module.PACKAGE_ROOT, capture_output=True, text=True)
    version = code_version()
    if head.returncode:
        assert version == {"commit": None, "dirty": None}
    else:
        assert module.PACKAGE_ROOT == REPO_ROOT / "attention_perturb"
        assert version["commit"] == head.stdout.strip()
        assert version["dirty"] in (True, False)


LIBRARIES = ["torch", "allennlp", "numpy", "spacy", "ray"]


def test_library_versions_name_python_and_each_library():
    versions = library_versions()
    assert list(versions) == ["python", *LIBRARIES]
    assert versions == {"python": platform.python_version(), **{name: metadata.version(name) for name in LIBRARIES}}
    assert versions["python"] == "{}.{}.{}".format(*sys.version_info[:3])
    assert versions["torch"].split("+")[0] == torch.__version__.split("+")[0]


def test_a_missing_library_has_no_version(monkeypatch):
    monkeypatch.setattr(module, "LIBRARIES", ("no-such-library-for-provenance", "numpy", "no_such_either"))
    assert library_versions() == {"python": platform.python_version(), "no-such-library-for-provenance": None,
                                  "numpy": metadata.version("numpy"), "no_such_either": None}


def test_cpu_model_is_the_first_model_name_of_cpuinfo():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = [line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")]
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if not names:
        pytest.skip("/proc/cpuinfo names no model")
    assert cpu_model() == names[0]


def fake_open(text, opened):
    def open_(path, *arguments, **keywords):
        opened.append(path)
        if text is None:
            raise PermissionError(path)
        return io.StringIO(text)
    return open_


@pytest.mark.parametrize("text, expected", [
    ("processor\t: 0\nvendor_id\t: Vendor\nmodel name\t: Vendor CPU: rev 2 @ 3.00GHz \nmodel name\t: Other\n",
     "Vendor CPU: rev 2 @ 3.00GHz"),
    ("processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n", "aarch64"),  # ARM's cpuinfo names no model
    ("", "aarch64"),
])
def test_cpu_model_from_a_cpuinfo(monkeypatch, text, expected):
    opened = []
    monkeypatch.setattr(module, "open", fake_open(text, opened), raising=False)
    monkeypatch.setattr(platform, "processor", lambda: "aarch64")
    assert cpu_model() == expected
    assert opened == ["/proc/cpuinfo"]


@pytest.mark.parametrize("processor, expected", [("x86_64", "x86_64"), ("", None)])
def test_cpu_model_without_cpuinfo_is_the_platforms_processor(monkeypatch, processor, expected):
    opened = []
    monkeypatch.setattr(module, "open", fake_open(None, opened), raising=False)
    monkeypatch.setattr(platform, "processor", lambda: processor)
    assert cpu_model() == expected
    assert opened == ["/proc/cpuinfo"]


def test_machine():
    described = machine()
    assert list(described) == ["system", "architecture", "cpus", "cpu_model", "cpu_capability", "cuda_device"]
    assert described == {
        "system": platform.system(),
        "architecture": platform.machine(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cuda_device": torch.cuda.get_device_name(torch.cuda.current_device()) if torch.cuda.is_available() else None,
    }
    assert isinstance(described["cpus"], int) and described["cpus"] >= 1
    assert described["cpu_capability"]


def test_machine_counts_the_cpus_os_cpu_count_reports(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 96)  # not the CPUs this process may use
    assert machine()["cpus"] == 96


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_provenance_of_this_process(checkout, monkeypatch, one_thread):
    repo, head = checkout
    monkeypatch.setattr(sys, "argv", ["allennlp", "train", "training_configs/sst.jsonnet", "-s", "runs/x"])
    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    entry = provenance()
    after = datetime.datetime.now(datetime.timezone.utc)
    assert list(entry) == ["commit", "dirty", "torch_threads", "versions", "machine", "command", "started"]
    assert entry["commit"] == head
    assert entry["dirty"] is False
    assert entry["torch_threads"] == 1 == torch.get_num_threads()
    assert entry["versions"] == library_versions()
    assert entry["machine"] == machine()
    assert entry["command"] == ["allennlp", "train", "training_configs/sst.jsonnet", "-s", "runs/x"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", entry["started"])
    assert before <= datetime.datetime.fromisoformat(entry["started"]) <= after
    assert json.loads(json.dumps(entry)) == entry  # written as JSON by the callback


def write_run(folder, config, processes=None):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    if processes is not None:
        (folder / "provenance.json").write_text(json.dumps(processes))
    return folder


CONFIG = {"model": {"type": "attention_classifier", "encoder": {"type": "lstm", "hidden_size": 6}},
          "random_seed": 13370, "numpy_seed": 1337, "pytorch_seed": 133}


def test_run_provenance_reads_the_processes_encoder_and_seeds(tmp_path):
    processes = [{"commit": "a" * 40, "torch_threads": 1}, {"commit": "b" * 40, "torch_threads": 2}]
    folder = write_run(tmp_path / "run", CONFIG, processes)
    assert run_provenance(str(folder)) == {
        "processes": processes,
        "encoder": "lstm",
        "seeds": {"random_seed": 13370, "numpy_seed": 1337, "pytorch_seed": 133},
    }


def test_a_run_trained_without_the_callback_has_no_processes(tmp_path):
    folder = write_run(tmp_path / "run", CONFIG)
    assert run_provenance(folder) == {
        "processes": None,
        "encoder": "lstm",
        "seeds": {"random_seed": 13370, "numpy_seed": 1337, "pytorch_seed": 133},
    }


@pytest.mark.parametrize("config", [{}, {"model": {"type": "basic_classifier"}}, {"model": {"encoder": {}}}])
def test_a_config_without_encoder_or_seeds_gives_none(tmp_path, config):
    assert run_provenance(write_run(tmp_path / "run", config, [])) == {
        "processes": [],
        "encoder": None,
        "seeds": {"random_seed": None, "numpy_seed": None, "pytorch_seed": None},
    }


MACHINE = {"system": "Linux", "architecture": "x86_64", "cpus": 2, "cpu_model": "AMD EPYC",
           "cpu_capability": "AVX512", "cuda_device": None}
SUMMARY = "Linux x86_64, 2 CPUs (AMD EPYC, AVX512), no GPU"


@pytest.mark.parametrize("changes, expected", [
    ({}, SUMMARY),
    ({"cpu_model": None}, "Linux x86_64, 2 CPUs (AVX512), no GPU"),
    ({"cpu_capability": None}, "Linux x86_64, 2 CPUs (AMD EPYC), no GPU"),
    ({"cpu_model": None, "cpu_capability": ""}, "Linux x86_64, 2 CPUs, no GPU"),
    ({"cuda_device": "NVIDIA H100 80GB HBM3"}, "Linux x86_64, 2 CPUs (AMD EPYC, AVX512), NVIDIA H100 80GB HBM3"),
    ({"system": "Darwin", "architecture": "arm64", "cpus": 10, "cpu_model": "Apple M1", "cpu_capability": "DEFAULT",
      "cuda_device": None}, "Darwin arm64, 10 CPUs (Apple M1, DEFAULT), no GPU"),
])
def test_machine_summary(changes, expected):
    assert machine_summary({**MACHINE, **changes}) == expected


def test_machine_summary_of_a_record_from_before_the_cpu_keys():
    older = {"system": "Linux", "architecture": "x86_64", "cpus": 16, "cuda_device": "Tesla V100-SXM2-16GB"}
    assert machine_summary(older) == "Linux x86_64, 16 CPUs, Tesla V100-SXM2-16GB"


COMMIT, OTHER = "0123456789abcdef0123456789abcdef01234567", "fedcba9876543210fedcba9876543210fedcba98"
VERSIONS = {"python": "3.11.4", "torch": "2.14.1", "allennlp": "2.10.1", "numpy": "2.4.6", "spacy": "3.8.18",
            "ray": None}
LIBRARY_SUMMARY = "allennlp 2.10.1, numpy 2.4.6, python 3.11.4, spacy 3.8.18, torch 2.14.1"
WITHOUT = "runs were recorded without provenance (trained before the `provenance` callback)"


def entry(commit=COMMIT, dirty=False, threads=1, versions=VERSIONS, machine=MACHINE):
    return {"commit": commit, "dirty": dirty, "torch_threads": threads, "versions": versions, "machine": machine,
            "command": ["allennlp", "train"], "started": "2026-01-01T00:00:00+00:00"}


def run(processes, encoder="lstm", seeds=(1, 1, 1)):
    return {"processes": processes, "encoder": encoder,
            "seeds": dict(zip(("random_seed", "numpy_seed", "pytorch_seed"), seeds))}


def test_one_run():
    assert provenance_summary([run([entry()])]) == (
        f"Provenance: commit 0123456; torch threads 1; {LIBRARY_SUMMARY}; machine {SUMMARY}; encoder lstm; seeds 1.")


def test_values_that_differ_are_counted_in_sorted_order():
    avx2 = {**MACHINE, "cpu_capability": "AVX2"}
    runs = [run([entry(commit=OTHER, threads=2)], seeds=(2, 2, 2)),
            run([entry()]),
            run([entry(machine=avx2)], encoder="cnn", seeds=(10, 10, 10))]
    assert provenance_summary(runs) == (
        "Provenance: commit 0123456 (2 runs), fedcba9 (1 runs); torch threads 1 (2 runs), 2 (1 runs); "
        f"{LIBRARY_SUMMARY}; machine Linux x86_64, 2 CPUs (AMD EPYC, AVX2), no GPU (1 runs), {SUMMARY} (2 runs); "
        "encoder cnn (1 runs), lstm (2 runs); seeds 1, 2, 10.")


def test_library_versions_that_differ_are_counted():
    newer = {**VERSIONS, "torch": "2.15.0", "ray": "2.60.0"}
    assert provenance_summary([run([entry(versions=newer)]), run([entry()])]) == (
        "Provenance: commit 0123456; torch threads 1; "
        f"allennlp 2.10.1, numpy 2.4.6, python 3.11.4, ray 2.60.0, spacy 3.8.18, torch 2.15.0 (1 runs), "
        f"{LIBRARY_SUMMARY} (1 runs); machine {SUMMARY}; encoder lstm; seeds 1.")


def test_a_dirty_commit_and_an_unknown_one():
    assert provenance_summary([run([entry(dirty=True)])]) == (
        f"Provenance: commit 0123456 (dirty); torch threads 1; {LIBRARY_SUMMARY}; machine {SUMMARY}; "
        "encoder lstm; seeds 1.")
    assert provenance_summary([run([entry(commit=None, dirty=None)])]) == (
        f"Provenance: commit unknown; torch threads 1; {LIBRARY_SUMMARY}; machine {SUMMARY}; encoder lstm; seeds 1.")
    assert provenance_summary([run([entry(commit=None, dirty=None)]), run([entry(commit=OTHER, dirty=True)])]) == (
        f"Provenance: commit fedcba9 (dirty) (1 runs), unknown (1 runs); torch threads 1; {LIBRARY_SUMMARY}; "
        f"machine {SUMMARY}; encoder lstm; seeds 1.")


def test_resumed_runs_are_counted():
    runs = [run([entry(), entry(threads=2)]), run([entry()]), run([entry(), entry(), entry()])]
    assert provenance_summary(runs) == (
        f"Provenance: commit 0123456; torch threads 1 (5 runs), 2 (1 runs); {LIBRARY_SUMMARY}; machine {SUMMARY}; "
        "2 runs resumed (`--recover`) in a further process; encoder lstm; seeds 1.")
    assert provenance_summary([run([entry(), entry()])]) == (
        f"Provenance: commit 0123456; torch threads 1; {LIBRARY_SUMMARY}; machine {SUMMARY}; "
        "1 runs resumed (`--recover`) in a further process; encoder lstm; seeds 1.")


def test_runs_without_provenance_are_counted():
    runs = [None, run(None, encoder="cnn", seeds=(3, 3, 3)), run([entry()])]
    assert provenance_summary(runs) == (
        f"Provenance: commit 0123456; torch threads 1; {LIBRARY_SUMMARY}; machine {SUMMARY}; "
        f"encoder cnn (1 runs), lstm (1 runs); seeds 1, 3; 2 of 3 {WITHOUT}.")
    assert provenance_summary([run(None)]) == f"Provenance: encoder lstm; seeds 1; 1 of 1 {WITHOUT}."
    assert provenance_summary([None, None]) == f"Provenance: 2 of 2 {WITHOUT}."


def test_seeds_are_deduplicated_and_sorted_by_length():
    runs = [run([entry()], seeds=seeds) for seeds in [(13370, 1337, 133), (1, 1, 1), (2, 2, 1), (1, 1, 1),
                                                      (10, 10, 10), (1, 2, 1)]]
    assert provenance_summary(runs) == (
        f"Provenance: commit 0123456; torch threads 1; {LIBRARY_SUMMARY}; machine {SUMMARY}; encoder lstm; "
        "seeds 1, 10, 1/2, 2/1, 13370/1337/133.")


def test_no_runs():
    assert provenance_summary([]) == "Provenance: none recorded."


def test_a_run_folder_written_by_this_process_is_summarised(tmp_path, checkout, one_thread):
    repo, head = checkout
    folder = write_run(tmp_path / "run", CONFIG, [provenance()])
    here = machine_summary(machine())
    libraries = ", ".join(f"{name} {version}" for name, version in sorted(library_versions().items()))
    assert provenance_summary([run_provenance(folder)]) == (
        f"Provenance: commit {head[:7]}; torch threads 1; {libraries}; machine {here}; encoder lstm; "
        "seeds 13370/1337/133.")
