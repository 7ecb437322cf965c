import argparse
import itertools
import json
import math
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from allennlp.commands.subcommand import Subcommand

from attention_perturb.commands.errors import reporting_errors
from allennlp.common.checks import ConfigurationError
from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.training.util import evaluate

from attention_perturb.archives import load_model_archive
from attention_perturb.commands.attack import positive_int
from attention_perturb.files import write_atomically
from attention_perturb.robustness.attack import attack_instances
from attention_perturb.robustness.stability import attention_model, stability_report

# The Attention-AT paper's six methods, then the three neighbours; other folders follow by name.
METHOD_ORDER = ("vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat", "seat", "flat", "bat")

# (heading, key of the row's measures, better direction)
COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ("Test score", "test_score", "↑"),
    ("Pearson", "pearson", "↑"),
    ("JSD PGD", "pgd_jsd", "↓"),
    ("TVD PGD", "pgd_tvd", "↓"),
    ("JSD noise", "noise_jsd", "↓"),
    ("TVD noise", "noise_tvd", "↓"),
    ("JSD synonym", "synonym_jsd", "↓"),
    ("TVD synonym", "synonym_tvd", "↓"),
    ("JSD seed", "seed_jsd", "↓"),
    ("TVD seed", "seed_tvd", "↓"),
    ("After-attack acc.", "after_attack_accuracy", "↑"),
    ("Synonym ASR", "synonym_attack_success_rate", "↓"),
    ("Antonym ASR", "antonym_attack_success_rate", "↓"),
    ("Comp.", "comprehensiveness", "↑"),
    ("Suff.", "sufficiency", "↓"),
)


@Subcommand.register("robustness-table")
class RobustnessTable(Subcommand):
    """`allennlp robustness-table --archives runs/sst_methods --data data/sst/test.txt -o table.md`:
    one markdown table comparing every `<method>/model.tar.gz` under the archive folder(s): test
    score (F1 for two labels, else accuracy), attention/gradient Pearson agreement, SEAT's JSD/TVD
    stability (SEAT's worst-case embedding perturbation, embedding noise, synonym substitution, and
    another seed with --second-archives),
    after-attack accuracy and synonym/antonym attack success rates of `allennlp attack`, and
    ERASER comprehensiveness/sufficiency of the top-k attention."""

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = parser.add_parser(self.name, description=self.__doc__, help="Compare methods' robustness in one table.")
        subparser.add_argument("--archives", nargs="+", required=True, help="folders holding <method>/model.tar.gz")
        subparser.add_argument("--data", required=True, help="evaluation data in the archives' reader format")
        subparser.add_argument("-o", "--output-file", required=True, help="the markdown table")
        subparser.add_argument("--json-file", help="also write every measure per method as JSON")
        subparser.add_argument("--second-archives", help="a folder with the same methods trained with another seed")
        subparser.add_argument("--noise-std", type=float, default=0.01)
        subparser.add_argument("--top-k", type=positive_int, default=5)
        subparser.add_argument("--budget", type=positive_int, help="attack queries per instance (default: no limit)")
        subparser.add_argument("--max-instances", type=positive_int, help="only the first N instances")
        subparser.add_argument("--batch-size", type=positive_int, default=64)
        subparser.add_argument("--cuda-device", type=int, default=-1)
        reporting_errors(subparser, robustness_table_from_args)
        return subparser


def found_archives(folders: Sequence[str]) -> Dict[str, Path]:
    """{method: archive} for every `<folder>/<method>/model.tar.gz`, in METHOD_ORDER then by name."""
    archives: Dict[str, Path] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            raise ConfigurationError(f"--archives: {folder} is not a folder")
        for archive in sorted(Path(folder).glob("*/model.tar.gz")):
            method = archive.parent.name
            if method in archives:
                raise ConfigurationError(f"--archives: two archives for {method}: {archives[method]} and {archive}")
            archives[method] = archive
    if not archives:
        raise ConfigurationError(f"--archives: no <method>/model.tar.gz under {', '.join(folders)}")
    rank = {method: index for index, method in enumerate(METHOD_ORDER)}
    return dict(sorted(archives.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def robustness_row(
    archive_file: str,
    data_file: str,
    second_archive: Optional[str] = None,
    noise_std: float = 0.01,
    top_k: int = 5,
    budget: Optional[int] = None,
    max_instances: Optional[int] = None,
    batch_size: int = 64,
    cuda_device: int = -1,
) -> Dict[str, float]:
    """Every measure of one archive on one data file (see `COLUMNS`), plus the ones behind them."""
    archive = load_model_archive(archive_file, cuda_device=cuda_device)
    model = attention_model(archive.model, archive_file)
    instances = list(itertools.islice(archive.validation_dataset_reader.read(data_file), max_instances))
    if not instances:
        raise ConfigurationError(f"--data: {data_file} has no instances")
    metrics = evaluate(model, SimpleDataLoader(instances, batch_size, vocab=model.vocab), cuda_device)
    row = {"test_score": metrics["f1"] if "f1" in metrics else metrics["accuracy"], **metrics}
    second_model = second_instances = None
    if second_archive is not None:
        second = load_model_archive(second_archive, cuda_device=cuda_device)
        second_model = attention_model(second.model, second_archive)
        second_instances = list(itertools.islice(second.validation_dataset_reader.read(data_file), max_instances))
    row.update(stability_report(
        model, instances, noise_std, second_model=second_model, second_instances=second_instances,
        top_k=top_k, batch_size=batch_size, source=archive_file,
    ))
    for kind in ("synonym", "antonym"):
        attack = attack_instances(model, instances, kind, budget, batch_size=max(batch_size, 256), top_k=top_k,
                                  source=archive_file).metrics()
        row[f"{kind}_attack_success_rate"] = attack[f"{kind}_attack_success_rate"]
        if kind == "synonym":
            row["after_attack_accuracy"] = attack["after_attack_accuracy"]
    return row


def markdown_table(rows: Dict[str, Dict[str, float]]) -> str:
    """One line per method; a column only when some method has it; missing values as '–'."""
    columns = [column for column in COLUMNS if any(column[1] in row for row in rows.values())]
    lines = [
        "| Method | " + " | ".join(f"{heading} {direction}" for heading, _, direction in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for method, row in rows.items():
        cells = [format_value(row.get(key)) for _, key, _ in columns]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def format_value(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3g}" if 0 < abs(value) < 0.001 else f"{value:.3f}"


def robustness_table(
    folders: Sequence[str],
    data_file: str,
    second_folder: Optional[str] = None,
    **options,
) -> Dict[str, Dict[str, float]]:
    archives = found_archives(folders)
    seconds = found_archives([second_folder]) if second_folder is not None else {}
    return {
        method: robustness_row(str(archive), data_file, str(seconds[method]) if method in seconds else None, **options)
        for method, archive in archives.items()
    }


def robustness_table_from_args(args: argparse.Namespace) -> Dict[str, Dict[str, float]]:
    rows = robustness_table(
        args.archives, args.data, args.second_archives, noise_std=args.noise_std, top_k=args.top_k,
        budget=args.budget, max_instances=args.max_instances, batch_size=args.batch_size, cuda_device=args.cuda_device,
    )
    table = markdown_table(rows)
    if args.json_file:
        write_atomically(args.json_file, json.dumps(rows, indent=2) + "\n")
    write_atomically(args.output_file, table)
    print(table, end="")
    return rows
