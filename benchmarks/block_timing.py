"""
Wall-clock time of a finished `reproduce-table2` block and each method's seconds per epoch, from its
runs' allennlp logs.

    .venv/bin/python benchmarks/block_timing.py runs/table2_sst

The block's time runs from the first run's first log line to the last run's `metrics.json`; an
epoch's time is allennlp's "Epoch duration" (training and validation); std is the sample standard deviation
over every epoch (over every run for s/run). Needs two or more runs per method.
"""
import argparse
import datetime
import re
import statistics
from pathlib import Path

DURATION = re.compile(r"Epoch duration: (\d+):(\d+):(\d+(?:\.\d+)?)")


def logged_start(out_log: Path) -> float:
    return datetime.datetime.strptime(out_log.read_text()[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output_dir")
    arguments = parser.parse_args()
    runs = sorted(Path(arguments.output_dir).glob("*/seed_*/metrics.json"))
    if not runs:
        raise SystemExit(f"{arguments.output_dir}: no finished runs")
    start = min(logged_start(run.parent / "out.log") for run in runs)
    end = max(run.stat().st_mtime for run in runs)
    print(f"{len(runs)} runs in {(end - start) / 60:.1f} min wall clock")
    print(f"{'method':14s} {'runs':>4s} {'s/epoch (mean ± std)':>21s} {'s/run (mean ± std)':>19s}")
    for method_dir in sorted({run.parent.parent for run in runs}):
        method_runs = [run for run in runs if run.parent.parent == method_dir]
        epochs = [3600 * int(h) + 60 * int(m) + float(s) for run in method_runs
                  for h, m, s in DURATION.findall((run.parent / "out.log").read_text())]
        per_run = [run.stat().st_mtime - logged_start(run.parent / "out.log") for run in method_runs]
        print(f"{method_dir.name:14s} {len(method_runs):4d} {statistics.mean(epochs):14.1f} ± {statistics.stdev(epochs):4.1f} "
              f"{statistics.mean(per_run):12.0f} ± {statistics.stdev(per_run):3.0f}")


if __name__ == "__main__":
    main()
