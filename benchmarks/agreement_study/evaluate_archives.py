"""Evaluates every archive of a `reproduce-table2` output folder again with further settings (an
importance measure, padded Pearson, ...) and keeps each run's test metrics in a record that
`allennlp results` renders (`measures` sections): how the candidate explanations of the paper's Corr.
are measured on a block's own models. Each evaluation is `allennlp evaluate` as a user runs it, in a
process of its own; the record names that process's provenance beside the training's. Resumable: a
run the record holds is not evaluated again.

    .venv/bin/python benchmarks/agreement_study/evaluate_archives.py runs/sst_table2 data/sst/test.txt \
        --overrides '{"model.agreement_measures": [{"type": "simple_gradient_allennlp"}], "model.padded_agreement": true}' \
        --record benchmarks/results/sst_candidate_causes.json
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from attention_perturb.provenance import run_provenance
from attention_perturb.experiments.record import merge, read_record, write_record
from attention_perturb.experiments.table2 import METHODS


def evaluate(archive: Path, data: str, overrides: str, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "metrics.json"
        provenance_file = Path(scratch) / "provenance.json"
        environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        # The evaluating process's own provenance, written by the same function the training's callback uses.
        command = [sys.executable, "-c",
                   "import json, sys; from allennlp.commands import main; "
                   "from attention_perturb.provenance import provenance; "
                   f"open({str(provenance_file)!r}, 'w').write(json.dumps([provenance()])); "
                   "sys.argv = ['allennlp'] + sys.argv[1:]; main()",
                   "evaluate", str(archive), data, "--output-file", str(output), "-o", overrides, "--cuda-device", "-1"]
        completed = subprocess.run(command, env=environment, capture_output=True, text=True)
        if completed.returncode != 0:
            raise RuntimeError(f"{archive}: allennlp evaluate exited with {completed.returncode}:\n{completed.stderr[-2000:]}")
        metrics = json.loads(output.read_text())
        evaluation = json.loads(provenance_file.read_text())
    trained = run_provenance(archive.parent)
    # Table 2's record names test metrics `test_<name>`: so does this one.
    return {"metrics": {f"test_{name}": value for name, value in metrics.items()},
            "provenance": {**trained, "evaluation": evaluation}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=Path, help="the -o folder of reproduce-table2: <runs>/<method>/seed_<n>/model.tar.gz")
    parser.add_argument("data", help="the evaluation data (e.g. data/sst/test.txt)")
    parser.add_argument("--overrides", default="{}", help="JSON overrides of each archive's config")
    parser.add_argument("--record", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    identity = {"data": args.data, "overrides": json.loads(args.overrides)}
    runs = read_record(args.record, identity)
    for method in METHODS:
        for archive in sorted((args.runs / method).glob("seed_*/model.tar.gz")):
            seed = int(archive.parent.name.split("_")[1])
            if seed in runs.get(method, {}):
                continue
            runs = merge(runs, {method: {seed: evaluate(archive, args.data, args.overrides, args.threads)}})
            write_record(args.record, identity, runs)
            print(f"{method} seed {seed}: " + ", ".join(f"{k[5:]} {v:.3f}" for k, v in sorted(runs[method][seed]["metrics"].items())
                                                         if k.startswith("test_pearson")), flush=True)


if __name__ == "__main__":
    main()
