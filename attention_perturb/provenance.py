"""What a number was made with: the code's commit, the thread count, the libraries and the machine.

A training writes one `provenance()` entry per process that trains it (the `provenance` trainer
callback), and the records of `reproduce-table2` and `sweep` keep those entries beside each run's
metrics, so that a committed record names the code, encoder, threads and seeds of every number in it.
"""
import datetime
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch

PACKAGE_ROOT = Path(__file__).resolve().parent
LIBRARIES = ("torch", "allennlp", "numpy", "spacy", "ray")


GIT_TIMEOUT_SECONDS = 30  # a git that hangs (a stale lock, a network mount) must not hold up a training


def _git(*arguments: str) -> Optional[str]:
    try:
        completed = subprocess.run(["git", *arguments], cwd=PACKAGE_ROOT, capture_output=True, text=True,
                                   timeout=GIT_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return completed.stdout if completed.returncode == 0 else None


# What a training reads from the checkout: a change elsewhere (benchmarks/results/, a record being
# written) does not make its numbers another commit's.
TRAINING_INPUTS = ("attention_perturb", "training_configs", "data")


def code_version() -> Dict[str, Any]:
    """{"commit": the HEAD of the checkout this package is imported from, "dirty": whether the files
    a training reads (`TRAINING_INPUTS`) differ from that commit, untracked files that git does not
    ignore included}; both None outside a git checkout (an installed wheel)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git("status", "--porcelain", "--", *(f":/{path}" for path in TRAINING_INPUTS))
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def library_versions() -> Dict[str, Optional[str]]:
    versions: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> Optional[str]:
    """/proc/cpuinfo's model name; else (no such file, or no such line, as on ARM) the platform's processor."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            named = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), None)
    except OSError:
        named = None
    return named or platform.processor() or None


def machine() -> Dict[str, Any]:
    """The machine, with what changes a CPU run's numbers at equal seeds and threads: the CPU model
    and the instruction set torch's kernels use (AVX2 and AVX-512 give different sums, and so
    different runs; `benchmarks/results/sst_table2.md` shows one)."""
    cuda = torch.cuda.get_device_name(torch.cuda.current_device()) if torch.cuda.is_available() else None
    return {"system": platform.system(), "architecture": platform.machine(), "cpus": os.cpu_count(),
            "cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cuda_device": cuda}


def provenance() -> Dict[str, Any]:
    """This process's provenance: code version, torch's intra-op thread count, library versions,
    machine, command line and start time (UTC)."""
    return {
        **code_version(),
        "torch_threads": torch.get_num_threads(),
        "versions": library_versions(),
        "machine": machine(),
        "command": sys.argv,
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


PROVENANCE_FILE = "provenance.json"  # written in a run's serialization dir by the `provenance` callback


def run_provenance(run_directory: Path) -> Dict[str, Any]:
    """What a finished run was made with, for its record: {"processes": the entries its `provenance`
    callback wrote (one per process that trained it; None for a run trained without the callback),
    "encoder": its config's encoder type, "seeds": its config's random, numpy and pytorch seeds}."""
    run_directory = Path(run_directory)
    config = json.loads((run_directory / "config.json").read_text())
    written = run_directory / PROVENANCE_FILE
    return {
        "processes": json.loads(written.read_text()) if written.is_file() else None,
        "encoder": config.get("model", {}).get("encoder", {}).get("type"),
        "seeds": {key: config.get(key) for key in ("random_seed", "numpy_seed", "pytorch_seed")},
    }


def machine_summary(machine: Dict[str, Any]) -> str:
    cpu = ", ".join(filter(None, (machine.get("cpu_model"), machine.get("cpu_capability"))))
    return (f"{machine['system']} {machine['architecture']}, {machine['cpus']} CPUs{f' ({cpu})' if cpu else ''}, "
            f"{machine['cuda_device'] or 'no GPU'}")


def provenance_summary(provenances: Sequence[Optional[Dict[str, Any]]]) -> str:
    """One paragraph naming the commits, encoders, thread counts, seeds, libraries and machines of
    runs' `run_provenance`s (None: a run recorded before provenance was), each value with how many
    runs it covers where they differ."""
    def counted(values: List[Any]) -> str:
        counts: Dict[str, int] = {}
        for value in values:
            counts[str(value)] = counts.get(str(value), 0) + 1
        if len(counts) == 1:
            return next(iter(counts))
        return ", ".join(f"{value} ({count} runs)" for value, count in sorted(counts.items()))

    known = [p for p in provenances if p is not None]
    processes = [entry for p in known for entry in (p["processes"] or [])]
    without = len(provenances) - sum(1 for p in known if p["processes"])
    parts = []
    if processes:
        parts.append("commit " + counted([f"{e['commit'][:7] if e['commit'] else 'unknown'}"
                                          f"{' (dirty)' if e['dirty'] else ''}" for e in processes]))
        parts.append("torch threads " + counted([e["torch_threads"] for e in processes]))
        parts.append(counted([", ".join(f"{name} {version}" for name, version in sorted(e["versions"].items()) if version)
                              for e in processes]))
        parts.append("machine " + counted([machine_summary(e["machine"]) for e in processes]))
        resumed = sum(1 for p in known if p["processes"] and len(p["processes"]) > 1)
        if resumed:
            parts.append(f"{resumed} runs resumed (`--recover`) in a further process")
    if known:
        parts.append("encoder " + counted([p["encoder"] for p in known]))
        seeds = sorted({"/".join(str(value) for value in dict.fromkeys(p["seeds"].values())) for p in known},
                       key=lambda seed: (len(seed), seed))
        parts.append("seeds " + ", ".join(seeds))
    if without:
        parts.append(f"{without} of {len(provenances)} runs were recorded without provenance (trained before "
                     f"the `provenance` callback)")
    return "Provenance: " + "; ".join(parts) + "." if parts else "Provenance: none recorded."
