"""Every test agreement of a `reproduce-table2` output folder as mean ± 95 % CI over seeds, and the
paired difference to vanilla at equal seeds (* where its CI excludes zero), one table per agreement
(Pearson, Kendall τ, top-5 overlap) with one column per importance measure.

    .venv/bin/python benchmarks/agreement_study/measures_table.py runs/table2_sst_chosen
"""
import argparse
import json
from pathlib import Path
from typing import Dict

from attention_perturb.experiments.statistics import mean_ci, paired_difference
from attention_perturb.experiments.table2 import METHODS, test_agreements

AGREEMENTS = ["pearson", "kendall", "top5"]


def test_metrics(output: Path) -> Dict[str, Dict[int, Dict[str, float]]]:
    """method → seed → that run's test agreements (final metrics.json, the best-validation epoch's model)."""
    runs: Dict[str, Dict[int, Dict[str, float]]] = {}
    for method in METHODS:
        for metrics_file in sorted((output / method).glob("seed_*/metrics.json")):
            seed = int(metrics_file.parent.name.split("_")[1])
            runs.setdefault(method, {})[seed] = test_agreements(json.loads(metrics_file.read_text()))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the -o folder of reproduce-table2")
    args = parser.parse_args()
    runs = test_metrics(args.output)
    example = next(iter(runs["vanilla"].values()))
    measures = [""] + sorted({key[len("pearson_"):] for key in example if key.startswith("pearson_")})
    for agreement in AGREEMENTS:
        columns = [agreement + (f"_{measure}" if measure else "") for measure in measures]
        print(f"\n{agreement}: mean ± 95 % CI over seeds; Δ = paired difference to vanilla\n")
        print("| method | seeds | " + " | ".join(columns) + " | " + " | ".join(f"Δ {column}" for column in columns) + " |")
        print("|---" * (2 + 2 * len(columns)) + "|")
        for method in METHODS:
            if method not in runs:
                continue
            seeds = runs[method]
            cells = [mean_ci([seeds[seed][column] for seed in seeds]).format(3) for column in columns]
            deltas = []
            for column in columns:
                if method == "vanilla":
                    deltas.append("-")
                    continue
                delta = paired_difference({seed: seeds[seed][column] for seed in seeds},
                                          {seed: values[column] for seed, values in runs["vanilla"].items()})
                deltas.append(f"{delta.mean:+.3f} ± {delta.half_width:.3f}" + (" *" if delta.excludes_zero else ""))
            print(f"| {method} | {len(seeds)} | " + " | ".join(cells) + " | " + " | ".join(deltas) + " |")


if __name__ == "__main__":
    main()
