"""
Which finishes a block of SST trainings sooner on this machine: one training at a time with every
core, or several side by side with the cores split between them? Runs the same `reproduce-table2`
block both ways, in one run, and prints each wall-clock time and their ratio.

    .venv/bin/python benchmarks/side_by_side.py [--methods vanilla attention_iat] [--seeds 2] [--epochs 2]

Each way trains `--methods` × `--seeds` real runs of `training_configs/sst_<method>.jsonnet` with
`--epochs` epochs into a fresh temporary folder (allennlp's start-up, vocabulary, validation and the
final test evaluation included, as in a real block). With C cores: `--jobs 1 --threads-per-job C`
against `--jobs C --threads-per-job 1`.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def block_seconds(output_dir: str, methods, seeds: int, epochs: int, jobs: int, threads: int) -> float:
    command = [sys.executable, "-m", "allennlp", "reproduce-table2", "--dataset", "sst", "--seeds", str(seeds),
               "--methods", *methods, "--overrides", json.dumps({"trainer.num_epochs": epochs}),
               "--jobs", str(jobs), "--threads-per-job", str(threads), "-o", output_dir]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", nargs="+", default=["vanilla", "attention_iat"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2)
    arguments = parser.parse_args()
    cores = os.cpu_count() or 1
    runs = len(arguments.methods) * arguments.seeds
    ways = {f"1 job x {cores} threads": (1, cores), f"{cores} jobs x 1 thread": (cores, 1)}
    seconds = {}
    for name, (jobs, threads) in ways.items():
        with tempfile.TemporaryDirectory() as output_dir:
            seconds[name] = block_seconds(output_dir, arguments.methods, arguments.seeds, arguments.epochs, jobs, threads)
        print(f"{name}: {runs} runs of {arguments.epochs} epochs in {seconds[name]:.0f} s", flush=True)
    (one_name, one), (many_name, many) = seconds.items()
    print(f"{many_name} / {one_name}: {many / one:.2f} (below 1: side by side is faster)")


if __name__ == "__main__":
    main()
