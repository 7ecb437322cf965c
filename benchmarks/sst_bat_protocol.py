"""BAT's attack protocol on the nine-method SST archives (issue 13, item 4): do BAT's orderings hold
when ASR is measured as BAT's code measures it?

    .venv/bin/python benchmarks/sst_bat_protocol.py [--archives runs/sst_nine] [--methods vanilla word_at ...]

For each <archives>/<method>/seed_<n>/model.tar.gz, on the full SST test set and without a query
budget unless stated:
- `antonym_ours`: the package's default antonym attack (WordNet's direct, then indirect antonyms; a
  success keeps the prediction, BAT §2.2);
- `antonym_direct`: the word's direct antonyms only (BAT's code takes no indirect ones either, but
  the antonyms of every lemma of every synset in any part of speech: a wider set than ours), the
  same success rule;
- `antonym_bat`: direct antonyms, and a success must also raise P(y) (BAT's code's rule: TextAttack's
  greedy search keeps a swap only if it raises the score);
- `synonym`: PWWS over WordNet synonyms with BAT's query budget of 2,000 (the robustness table's is 40).
Each archive's numbers, with what trained and what measured it, go into the record (default
benchmarks/results/sst_bat_protocol.json) as they finish, so a rerun measures only what is missing; then the
table, mean ± std over seeds and each method's paired difference to vanilla at equal seeds (mean ± 95 % CI,
`*` where it excludes 0), is printed, and written to --output if given. The results file
benchmarks/results/sst_bat_protocol.md is made from the record by `allennlp results` (a `robustness` section).
"""
import argparse
import itertools
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from attention_perturb.archives import load_model_archive  # noqa: E402
from attention_perturb.experiments.robustness_table import format_cell, format_difference, seed_summary  # noqa: E402
from attention_perturb.files import write_atomically  # noqa: E402
from attention_perturb.provenance import provenance, run_provenance  # noqa: E402
from attention_perturb.robustness.attack import attack_instances  # noqa: E402
from attention_perturb.substitutions.wordnet import shared_substitutions  # noqa: E402
from attention_perturb.experiments.statistics import paired_difference  # noqa: E402

# (measure, attack kind, antonyms with the indirect ones, antonym success rule, query budget)
MEASURES = (
    ("antonym_ours", "antonym", True, "unchanged_prediction", None),
    ("antonym_direct", "antonym", False, "unchanged_prediction", None),
    ("antonym_bat", "antonym", False, "higher_confidence", None),
    ("synonym", "synonym", True, "unchanged_prediction", 2000),
)
HEADINGS = {
    "antonym_ours": "Antonym ASR, ours (direct + indirect, prediction kept)",
    "antonym_direct": "Antonym ASR, direct antonyms",
    "antonym_bat": "Antonym ASR, BAT's success rule (direct, P(y) raised)",
    "synonym": "Synonym ASR (budget 2,000)",
    "after_synonym_accuracy": "After-attack acc. (synonym)",
}
DEFAULT_METHODS = ("vanilla", "word_at", "word_iat", "flat", "flat_soft_masks", "bat")


def measure_archive(archive_file: Path, data_file: str, max_instances: int = None) -> dict:
    archive = load_model_archive(str(archive_file))
    instances = list(itertools.islice(archive.validation_dataset_reader.read(data_file), max_instances))
    row = {}
    for name, kind, indirect, success, budget in MEASURES:
        metrics = attack_instances(archive.model, instances, kind, budget,
                                   substitutions=shared_substitutions(indirect_antonyms=indirect),
                                   antonym_success=success, source=str(archive_file)).metrics()
        row[name] = metrics[f"{kind}_attack_success_rate"]
        if kind == "synonym":
            row["after_synonym_accuracy"] = metrics["after_attack_accuracy"]
        row[f"{name}_without_candidates"] = metrics["without_candidates"] / max(metrics["instances"] * metrics["clean_accuracy"], 1)
    folder = Path(archive_file).resolve().parent  # a linked archive's own run folder
    row["provenance"] = run_provenance(folder) if (folder / "config.json").is_file() else None
    row["measured_by"] = provenance()
    return row


def table(record: dict, methods) -> str:
    keys = list(HEADINGS)
    lines = ["| Method | Seeds | " + " | ".join(HEADINGS[key] for key in keys) + " |", "|---|---:|" + "---:|" * len(keys)]
    present = [method for method in methods if record.get(method)]
    for method in present:
        seeds = record[method]
        summary = seed_summary(list(seeds.values()))
        lines.append(f"| {method} | {len(seeds)} | " + " | ".join(format_cell(summary[key]) for key in keys) + " |")
    lines += ["", "Difference to vanilla at equal seeds (mean ± 95 % CI; `*`: the CI excludes 0):", "",
              "| Method | Seeds | " + " | ".join("Δ " + HEADINGS[key] for key in keys) + " |",
              "|---|---:|" + "---:|" * len(keys)]
    baseline = record.get("vanilla", {})
    for method in present:
        if method == "vanilla":
            continue
        estimates = [paired_difference({int(s): row[key] for s, row in record[method].items()},
                                       {int(s): row[key] for s, row in baseline.items()}) for key in keys]
        lines.append(f"| {method} − vanilla | {estimates[0].count} | " + " | ".join(format_difference(e) for e in estimates) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archives", default="runs/sst_nine")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--data", default="data/sst/test.txt")
    parser.add_argument("--max-instances", type=int)
    parser.add_argument("--record", default=str(REPO / "benchmarks/results/sst_bat_protocol.json"))
    parser.add_argument("--output", help="a file for the table (default: printed only)")
    args = parser.parse_args()
    record_path = Path(args.record)
    identity = {"data": args.data, "max_instances": args.max_instances, "measures": [list(m) for m in MEASURES]}
    saved = json.loads(record_path.read_text()) if record_path.exists() else {"identity": identity, "runs": {}}
    if saved["identity"] != identity:
        sys.exit(f"{record_path}: recorded under other options ({saved['identity']}); pass another --record")
    runs = saved["runs"]
    for method in args.methods:
        for archive in sorted(Path(args.archives, method).glob("seed_*/model.tar.gz")):
            seed = archive.parent.name.split("_")[1]
            if seed in runs.get(method, {}):
                continue
            runs.setdefault(method, {})[seed] = measure_archive(archive, args.data, args.max_instances)
            print(method, seed, runs[method][seed], flush=True)
            write_atomically(record_path, json.dumps(saved, indent=1, sort_keys=True) + "\n")
    command = " ".join([".venv/bin/python", "benchmarks/sst_bat_protocol.py", *sys.argv[1:]])
    header = (f"# BAT's attack protocol on the SST archives\n\nMade by `{command}` (see the script's docstring); "
              f"{args.data}, {args.max_instances or 'all'} sentences; mean ± std (sample) over seeds "
              + "; ".join(f"{method}: {', '.join(sorted(runs[method]))}" for method in args.methods if runs.get(method)) + ".\n\n")
    text = header + table(runs, args.methods)
    if args.output:
        write_atomically(args.output, text)
    print(text)


if __name__ == "__main__":
    main()
