"""Seeds a sweep's record with another sweep's recorded runs of the cells both grids train identically
(`tune.sweep.shared_runs`), so that `sweep run --record` does not train them again. Adds to the target
record; a run it already holds is kept.

    .venv/bin/python benchmarks/agreement_study/share_runs.py FROM_GRID FROM_RECORD TO_GRID TO_RECORD
"""
import argparse
from pathlib import Path

from attention_perturb.experiments.record import merge, read_record, write_record
from attention_perturb.experiments.sweep import read_grid, record_identity, shared_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("from_grid", "from_record", "to_grid", "to_record"):
        parser.add_argument(name, type=Path)
    args = parser.parse_args()
    source, target = read_grid(args.from_grid), read_grid(args.to_grid)
    shared = shared_runs(read_record(args.from_record, record_identity(source)), source, target)
    identity = record_identity(target)
    write_record(args.to_record, identity, merge(shared, read_record(args.to_record, identity)))
    print(f"{args.to_record}: " + ", ".join(f"{cell} seeds {sorted(seeds)}" for cell, seeds in sorted(shared.items())))


if __name__ == "__main__":
    main()
