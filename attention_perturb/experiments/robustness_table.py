"""The robustness table of `allennlp robustness-table`: every method's archives (per seed) measured
for test score, agreement, SEAT's stability, attacks and faithfulness, tabulated with paired
differences to vanilla and recorded so that seeds span sittings."""
import concurrent.futures
import json
import math
import multiprocessing
import re
import statistics
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch

from allennlp.data.data_loaders import SimpleDataLoader
from allennlp.training.util import evaluate

from attention_perturb.archives import archive_and_instances
from attention_perturb.files import write_atomically
from attention_perturb.provenance import provenance, run_provenance
from attention_perturb.robustness.attack import attack_instances
from attention_perturb.experiments.pareto import pareto_figure
from attention_perturb.robustness.stability import attention_model, second_model_and_instances, stability_report
from attention_perturb.experiments.record import FROM_RECORD, Runs, read_record, write_record
from attention_perturb.experiments.statistics import Estimate, paired_difference
from attention_perturb.errors import SettingError

# The Attention-AT paper's six methods, then the three neighbours; other folders follow by name.
METHOD_ORDER = ("vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat", "seat", "flat", "bat")

# (heading, key of the row's measures, better direction)
COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ("Test score", "test_score", "↑"),
    ("Pearson", "pearson", "↑"),
    ("JSD PGD", "pgd_jsd", "↓"),
    ("TVD PGD", "pgd_tvd", "↓"),
    # The same attack as SEAT's code runs it, every iterate clamped to [0, 1] (--pgd-clip).
    ("JSD PGD clipped", "pgd_clip_jsd", "↓"),
    ("TVD PGD clipped", "pgd_clip_tvd", "↓"),
    ("JSD noise", "noise_jsd", "↓"),
    ("TVD noise", "noise_tvd", "↓"),
    ("JSD synonym", "synonym_jsd", "↓"),
    ("TVD synonym", "synonym_tvd", "↓"),
    ("JSD seed", "seed_jsd", "↓"),
    ("TVD seed", "seed_tvd", "↓"),
    ("After-attack acc.", "after_attack_accuracy", "↑"),
    ("Synonym ASR", "synonym_attack_success_rate", "↓"),
    # FLAT's interpretation consistency (its Table 3 "KT", "TI") between each attacked input and its
    # synonym adversarial example, of attention and of gradient importance; k is --top-k.
    ("KT attention (adv.)", "adversarial_attention_kendall_tau", "↑"),
    ("Top-k∩ attention (adv.)", "adversarial_attention_top_k_intersection", "↑"),
    ("KT gradient (adv.)", "adversarial_gradient_kendall_tau", "↑"),
    ("Top-k∩ gradient (adv.)", "adversarial_gradient_top_k_intersection", "↑"),
    ("Antonym ASR", "antonym_attack_success_rate", "↓"),
    ("Attn. entropy", "attention_entropy", "·"),  # neither better: 1 = uniform attention, which no perturbation moves
    ("Comp.", "comprehensiveness", "↑"),
    ("Suff.", "sufficiency", "↓"),
)


SEED_FOLDER = re.compile(r"seed_(\d+)")


def found_archives(folders: Sequence[str], allow_none: bool = False) -> Dict[str, List[Path]]:
    """{method: [archive per seed]} for every `<folder>/<method>/model.tar.gz` (one seed) or
    `<folder>/<method>/seed_<n>/model.tar.gz` (seeds in order of n), in METHOD_ORDER then by name;
    no archive at all is an error unless `allow_none`."""
    archives: Dict[str, List[Path]] = {}
    for folder in folders:
        if not Path(folder).is_dir():
            raise SettingError("archives", f"{folder} is not a folder")
        for method_folder in sorted(path for path in Path(folder).iterdir() if path.is_dir()):
            seeds = sorted(
                (int(match.group(1)), path / "model.tar.gz") for path in method_folder.iterdir()
                if (match := SEED_FOLDER.fullmatch(path.name)) and (path / "model.tar.gz").is_file()
            )
            found = [method_folder / "model.tar.gz"] if (method_folder / "model.tar.gz").is_file() else []
            if found and seeds:
                raise SettingError("archives", f"{method_folder} holds both model.tar.gz and seed_<n> archives")
            found = found or [archive for _, archive in seeds]
            if not found:
                continue
            method = method_folder.name
            if method in archives:
                raise SettingError("archives", f"two archives for {method}: {archives[method][0]} and {found[0]}")
            archives[method] = found
    if not archives and not allow_none:
        raise SettingError("archives", f"no <method>/model.tar.gz or <method>/seed_<n>/model.tar.gz under {', '.join(folders)}")
    return in_method_order(archives)


def in_method_order(by_method: Dict[str, Any]) -> Dict[str, Any]:
    rank = {method: index for index, method in enumerate(METHOD_ORDER)}
    return dict(sorted(by_method.items(), key=lambda item: (rank.get(item[0], len(rank)), item[0])))


def seed_or_position(archive: Path, position: int) -> int:
    """n of a `seed_<n>` folder, else the archive's position among its method's (without a record,
    a flat `<method>/model.tar.gz` is allowed)."""
    match = SEED_FOLDER.fullmatch(archive.parent.name)
    return int(match.group(1)) if match else position


def seed_of(archive: Path) -> int:
    """n of a `<method>/seed_<n>/model.tar.gz` archive; a record needs that layout."""
    match = SEED_FOLDER.fullmatch(archive.parent.name)
    if match is None:
        raise SettingError("record", f"{archive} is not in a seed_<n> folder; a record keeps measures by seed, "
                                 f"so use the <method>/seed_<n>/model.tar.gz layout")
    return int(match.group(1))


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
    pgd_clip: bool = False,
) -> Dict[str, Any]:
    """Every measure of one archive on one data file (see `COLUMNS`), plus the ones behind them,
    `provenance`: what trained the archive (`run_provenance` of its folder, where it has its
    config.json; else None), and `measured_by`: this process's `provenance()`."""
    archive, instances = archive_and_instances(archive_file, data_file, attention_model, max_instances, cuda_device)
    model = archive.model
    model.drop_further_agreement_measures()  # the table reads `pearson` alone
    metrics = evaluate(model, SimpleDataLoader(instances, batch_size, vocab=model.vocab), cuda_device)
    row = {"test_score": metrics["f1"] if "f1" in metrics else metrics["accuracy"], **metrics}
    second_model, second_instances = second_model_and_instances(second_archive, data_file, max_instances, cuda_device)
    row.update(stability_report(
        model, instances, noise_std, second_model=second_model, second_instances=second_instances,
        top_k=top_k, batch_size=batch_size, source=archive_file, pgd_clip=pgd_clip,
        second_source=second_archive or "second model",
    ))
    for kind in ("synonym", "antonym"):
        attack = attack_instances(model, instances, kind, budget, batch_size=max(batch_size, 256), top_k=top_k,
                                  source=archive_file).metrics()
        row[f"{kind}_attack_success_rate"] = attack[f"{kind}_attack_success_rate"]
        if kind == "synonym":
            row["after_attack_accuracy"] = attack["after_attack_accuracy"]
            for name in ("attention", "gradient"):
                for measure, key in (("kendall_tau", f"{name}_kendall_tau"), ("top_k_intersection", f"{name}_top{top_k}_intersection")):
                    if key in attack:  # absent when no attack changed a word
                        row[f"adversarial_{name}_{measure}"] = attack[key]
    folder = Path(archive_file).resolve().parent  # a linked archive's own run folder
    row["provenance"] = run_provenance(folder) if (folder / "config.json").is_file() else None
    row["measured_by"] = provenance()
    return row


def seed_summary(rows: Sequence[Dict[str, float]]) -> Dict[str, Tuple[float, float, int]]:
    """{measure: (mean, sample std, seeds)} over the seeds' rows; a measure missing or NaN on a
    seed is left out of that measure's mean; std is NaN below two seeds."""
    summary = {}
    for key in dict.fromkeys(key for row in rows for key in row):
        values = [row[key] for row in rows if isinstance(row.get(key), (int, float)) and not math.isnan(row[key])]
        if values:
            spread = statistics.stdev(values) if len(values) > 1 else math.nan
            summary[key] = (statistics.fmean(values), spread, len(values))
    return summary


def markdown_table(summaries: Dict[str, Dict[str, Tuple[float, float, int]]]) -> str:
    """One line per method, `mean ± std` where a measure has several seeds; a column only when
    some method has it; missing values as '–'."""
    return method_rows({method: (max((count for _, _, count in summary.values()), default=0),
                                 {key: format_cell(value) for key, value in summary.items()})
                        for method, summary in summaries.items()})


def method_rows(rows: Dict[str, Tuple[int, Dict[str, str]]], heading_prefix: str = "",
                columns: Sequence[Tuple[str, str, str]] = COLUMNS) -> str:
    """A markdown table of {label: (seeds, {measure: cell})}, the `columns` (heading, measure,
    direction; default `COLUMNS`) that some row has, in their order; '–' where a row lacks one."""
    columns = [column for column in columns if any(column[1] in cells for _, cells in rows.values())]
    lines = [
        "| Method | Seeds | " + " | ".join(f"{heading_prefix}{heading} {direction}" for heading, _, direction in columns) + " |",
        "|---|---:|" + "---:|" * len(columns),
    ]
    for label, (seeds, cells) in rows.items():
        lines.append(f"| {label} | {seeds} | " + " | ".join(cells.get(key, "–") for _, key, _ in columns) + " |")
    return "\n".join(lines) + "\n"


# The measures whose difference to vanilla the neighbours' papers and ours argue about.
PAIRED_KEYS = ("test_score", "pearson", "pgd_jsd", "pgd_tvd", "pgd_clip_jsd", "pgd_clip_tvd", "after_attack_accuracy", "synonym_attack_success_rate",
               "adversarial_attention_kendall_tau", "adversarial_attention_top_k_intersection",
               "adversarial_gradient_kendall_tau", "adversarial_gradient_top_k_intersection",
               "antonym_attack_success_rate", "attention_entropy")


def paired_differences(rows: Dict[str, Dict[int, Dict[str, float]]], baseline: str = "vanilla") -> Dict[str, Dict[str, Estimate]]:
    """{method: {measure: mean ± 95 % CI of (method − baseline) over the seeds both have}}, for
    every method but the baseline and every measure of PAIRED_KEYS both have at some common seed."""
    if baseline not in rows:
        return {}
    differences = {}
    for method, seeds in rows.items():
        if method == baseline:
            continue
        estimates = {}
        for key in PAIRED_KEYS:
            ours, theirs = ({seed: row[key] for seed, row in runs.items() if valid_number(row.get(key))}
                            for runs in (seeds, rows[baseline]))
            if set(ours) & set(theirs):
                estimates[key] = paired_difference(ours, theirs)
        if estimates:
            differences[method] = estimates
    return differences


def valid_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def paired_differences_markdown(differences: Dict[str, Dict[str, Estimate]], baseline: str = "vanilla") -> str:
    """Each method's difference to the baseline at equal seeds, `mean ± 95 % CI` (Student t; the
    value alone for one common seed), `*` where the CI excludes zero."""
    return method_rows({f"{method} − {baseline}": (max(estimate.count for estimate in estimates.values()),
                                                    {key: format_difference(value) for key, value in estimates.items()})
                        for method, estimates in differences.items()}, heading_prefix="Δ ")


def format_difference(estimate: Estimate) -> str:
    text = format_signed(estimate.mean)
    if estimate.half_width is None:
        return text
    return f"{text} ± {format_value(estimate.half_width)}" + (" *" if estimate.excludes_zero else "")


def format_signed(value: float) -> str:
    return ("+" if value > 0 else "") + format_value(value) if value != 0 else "0.000"


def format_cell(summary: Tuple[float, float, int]) -> str:
    mean, spread, count = summary
    return format_value(mean) if count < 2 else f"{format_value(mean)} ± {format_value(spread)}"


def format_value(value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3g}" if 0 < abs(value) < 0.001 else f"{value:.3f}"


def robustness_table(
    folders: Sequence[str],
    data_file: str,
    second_folder: Optional[str] = None,
    record: Optional[str] = None,
    jobs: int = 1,
    **options,
) -> Dict[str, Dict[int, Dict[str, float]]]:
    """{method: {seed: row}}; each seed compared with the second folder's archive of the same
    position, else with the method's next seed. With a `record`, the seeds it holds are taken from
    it, and each newly measured seed is written to it at once. `jobs` archives are measured at a
    time, each in its own process of one thread."""
    archives = found_archives(folders, allow_none=record is not None)
    seconds = found_archives([second_folder]) if second_folder is not None else {}
    identity = record_identity(data_file, second_folder is not None, options)
    measured: Runs = read_record(Path(record), identity) if record is not None else {}
    if record is not None and not archives and not measured:
        raise SettingError("archives", f"no <method>/seed_<n>/model.tar.gz under {', '.join(folders)}, "
                                 f"and {record} holds no measures yet")
    # Every archive's seed before any measuring, so that a layout a record cannot take fails at once.
    seed_numbers = {method: [seed_of(archive) if record is not None else seed_or_position(archive, index)
                             for index, archive in enumerate(seeds)]
                    for method, seeds in archives.items()}
    comparisons = {method: seconds.get(method) if second_folder is not None else (seeds[1:] + seeds[:1] if len(seeds) > 1 else None)
                   for method, seeds in archives.items()}
    # Every method's first seed, then every method's second, ...: a sitting that ends part-way
    # leaves whole seeds of the table, not some methods with all their seeds and others with none.
    order = sorted(((index, position, method) for position, (method, seeds) in enumerate(archives.items())
                    for index in range(len(seeds))))
    tasks = [
        (method, seed_numbers[method][index], (str(archives[method][index]), data_file,
                                                str(others[index]) if (others := comparisons[method]) and index < len(others) else None))
        for index, _, method in order if seed_numbers[method][index] not in measured.get(method, {})
    ]
    for method, seed, row in measured_rows(tasks, jobs, options):
        measured.setdefault(method, {})[seed] = row
        if record is not None:
            write_record(Path(record), identity, measured)
    return {method: {seed: {key: value for key, value in row.items() if key != FROM_RECORD} for seed, row in sorted(seeds.items())}
            for method, seeds in in_method_order(measured).items()}


def measured_rows(tasks: Sequence[Tuple[str, int, Tuple[str, str, Optional[str]]]], jobs: int,
                  options: Dict[str, Any]) -> Iterator[Tuple[str, int, Dict[str, float]]]:
    """(method, seed, `robustness_row(*arguments, **options)`) for each (method, seed, arguments)
    task, as each finishes: in this process one after another, or in `jobs` spawned processes
    (spawned, not forked: torch's thread pools do not survive a fork). The first failure stops
    the tasks not yet started and is raised."""
    if jobs == 1 or len(tasks) < 2:
        for method, seed, arguments in tasks:
            yield method, seed, robustness_row(*arguments, **options)
        return
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=torch.set_num_threads,
                                                initargs=(1,)) as pool:
        futures = {pool.submit(robustness_row, *arguments, **options): (method, seed) for method, seed, arguments in tasks}
        try:
            for future in concurrent.futures.as_completed(futures):
                yield (*futures[future], future.result())
        finally:
            for future in futures:
                future.cancel()


# Options that change a measure, and so must match a record's. The batch size does: the noise, the
# PGD start and the substituted positions are drawn per batch, in its padded shape.
MEASURING_OPTIONS = ("noise_std", "top_k", "budget", "max_instances", "batch_size", "pgd_clip")
# The stability measures run on a float64 copy of each model (`stability_report`); records made
# before, with float32 JSDs, do not name it and are not extended with float64 measures.
STABILITY_PRECISION = "float64"


def record_identity(data_file: str, second_folder: bool, options: Dict[str, Any]) -> Dict[str, Any]:
    return {"command": "robustness-table", "data": data_file, "second_archives": second_folder,
            **{key: options.get(key) for key in MEASURING_OPTIONS}, "stability_precision": STABILITY_PRECISION}


def write_robustness_table(folders: Sequence[str], data_file: str, output_file: str, second_folder: Optional[str] = None,
                           json_file: Optional[str] = None, figure: Optional[str] = None, record: Optional[str] = None,
                           jobs: int = 1, **options) -> Tuple[str, Dict[str, Dict[int, Dict[str, float]]]]:
    """`robustness_table`'s rows as the markdown table (mean ± std over seeds, then the paired
    differences to vanilla) in `output_file`, and, if asked, every measure as JSON and the Pareto
    picture; returns (the table, the rows)."""
    rows = robustness_table(folders, data_file, second_folder, record=record, jobs=jobs, **options)
    summaries = {method: seed_summary(list(seeds.values())) for method, seeds in rows.items()}
    differences = paired_differences(rows)
    table = markdown_table(summaries)
    if differences:
        table += ("\nDifference to vanilla at equal seeds (mean ± 95 % CI, Student t; * where the CI excludes 0):\n\n"
                  + paired_differences_markdown(differences))
    if json_file:
        measures = {
            method: {
                "seed_numbers": list(rows[method]),
                "seeds": list(rows[method].values()),
                "mean": {key: mean for key, (mean, _, _) in summary.items()},
                "std": {key: spread for key, (_, spread, _) in summary.items()},
                **({"difference_to_vanilla": {key: estimate._asdict() for key, estimate in differences[method].items()}}
                   if method in differences else {}),
            }
            for method, summary in summaries.items()
        }
        write_atomically(json_file, json.dumps(measures, indent=2) + "\n")
    if figure:
        pareto_figure(rows, figure)
    write_atomically(output_file, table)
    return table, rows
