"""
Sections of results files made from a `robustness-table --record` (and records of the same shape,
{method: {seed: measures}}), for `allennlp results`:

- `robustness_section`: the table (mean ± std over seeds) of chosen methods and columns, the paired
  differences to vanilla, what trained and what measured each number, and the Pareto picture;
- `tradeoff_section`: a sweep read against a baseline (vanilla): per setting its clean-score
  difference at equal seeds, a target measure's ratio baseline ÷ setting per seed (the stability
  gain), attention entropy beside it, further columns, and a verdict naming the settings that meet
  every condition (enough seeds, score within a margin, ratio at least a factor), or saying none does.
"""
import math
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from attention_perturb.experiments.robustness_table import (
    COLUMNS, PAIRED_KEYS, format_cell, format_difference, format_value, in_method_order, method_rows, seed_summary,
    valid_number,
)
from attention_perturb.provenance import provenance_summary
from attention_perturb.experiments.pareto import DEFAULT_PANELS, pareto_figure
from attention_perturb.experiments.record import FROM_RECORD, Runs, read_identity, read_record
from attention_perturb.experiments.statistics import paired_difference

# Measures a section may ask for by `columns` beyond the robustness table's own: Table 2's further
# agreements, and the columns of benchmarks/sst_bat_protocol.py's record (BAT's attack protocol).
FURTHER_COLUMNS: Tuple[Tuple[str, str, str], ...] = (
    ("Kendall τ", "kendall", "↑"),
    ("Top-5 overlap", "top5", "↑"),
    ("Antonym ASR, ours", "antonym_ours", "↓"),
    ("Antonym ASR, direct antonyms", "antonym_direct", "↓"),
    ("Antonym ASR, BAT's rule", "antonym_bat", "↓"),
    ("Synonym ASR, budget 2,000", "synonym", "↓"),
    ("After-attack acc., budget 2,000", "after_synonym_accuracy", "↑"),
)
HEADINGS = {key: f"{heading} {direction}" for heading, key, direction in COLUMNS + FURTHER_COLUMNS}
NOT_MEASURES = ("provenance", "measured_by")


class ReportError(ValueError):
    """A section that cannot be made from its record and arguments."""


def pending_note(records: Sequence[str], folder: Path, pending: str) -> str:
    missing = [record for record in records if read_identity(folder / record) is None]
    return f"Pending: {', '.join(f'`{record}`' for record in missing)} not made yet; `{pending}` makes it.\n"


def when_made(section):
    """`section`, or with `pending="COMMAND"` a one-line note naming COMMAND while a record it reads
    does not exist yet (a missing record without `pending` stays an error)."""
    def made(folder: Path, output: Path, record: str, pending: Optional[str] = None, **settings: str) -> str:
        records = [record] + (listed(settings.get("extra")) or [])
        if pending is not None and any(read_identity(folder / name) is None for name in records):
            return pending_note(records, folder, pending)
        return section(folder, output, record, **settings)

    made.__doc__ = section.__doc__
    return made


def listed(value: Optional[str]) -> Optional[List[str]]:
    return None if value is None else [item for item in value.split(",") if item]


def read_rows(folder: Path, records: Sequence[str]) -> Tuple[List[Dict[str, Any]], Runs]:
    """The identities and {method: {seed: row}} of the records (relative to `folder`), a later
    record's measures added to an earlier one's at the same method and seed."""
    identities, rows = [], {}
    for record in records:
        path = folder / record
        identity = read_identity(path)
        if identity is None:
            raise ReportError(f"{path}: no such record")
        identities.append(identity)
        for method, seeds in read_record(path, identity).items():
            for seed, row in seeds.items():
                rows.setdefault(method, {}).setdefault(int(seed), {}).update(
                    {key: value for key, value in row.items() if key != FROM_RECORD})
    return identities, {method: dict(sorted(seeds.items())) for method, seeds in in_method_order(rows).items()}


def chosen_methods(rows: Runs, methods: Optional[List[str]], source: str) -> List[str]:
    if methods is None:
        return list(rows)
    missing = [method for method in methods if method not in rows]
    if missing:
        raise ReportError(f"{source}: no measures of {', '.join(missing)}")
    return methods


def measured_summary(rows: Runs, methods: Sequence[str]) -> str:
    """One sentence naming the commits and thread counts of the processes that measured the rows."""
    entries = [row.get("measured_by") for method in methods for row in rows[method].values()]
    known = [entry for entry in entries if entry]
    if not known:
        return "Measured: not recorded."
    commits = sorted({f"{e['commit'][:7] if e.get('commit') else 'unknown'}{' (dirty)' if e.get('dirty') else ''}" for e in known})
    threads = sorted({str(e.get("torch_threads")) for e in known})
    missing = len(entries) - len(known)
    return (f"Measured by commit {', '.join(commits)}; torch threads {', '.join(threads)}"
            + (f"; {missing} of {len(entries)} rows without a record of it" if missing else "") + ".")


def identity_line(identities: Sequence[Dict[str, Any]], records: Sequence[str]) -> str:
    parts = []
    for record, identity in zip(records, identities):
        settings = ", ".join(f"{key} {value}" for key, value in identity.items() if key not in ("command",))
        parts.append(f"`{record}`: {settings}")
    return "Records: " + "; ".join(parts) + "."


def robustness_section(folder: Path, output: Path, record: str, methods: Optional[str] = None,
                       columns: Optional[str] = None, figure: Optional[str] = None, panels: Optional[str] = None,
                       extra: Optional[str] = None, baseline: str = "vanilla", figure_methods: Optional[str] = None) -> str:
    """The robustness table of `methods` (default: all) over `columns` (default: all of `COLUMNS`
    they have; asked for, also those of `FURTHER_COLUMNS`), mean ± std over seeds, then each method's
    paired difference to `baseline` (mean ± 95 % CI) in the measures of `PAIRED_KEYS` and the further
    ones asked for, the provenance of the trainings and of the measures, and with `figure` the Pareto
    picture of `figure_methods` (default: the table's) written there (relative to the results folder)
    and linked."""
    records = [record] + (listed(extra) or [])
    identities, rows = read_rows(folder, records)
    names = chosen_methods(rows, listed(methods), record)
    keys = listed(columns)
    unknown = [key for key in keys or [] if key not in HEADINGS]
    if unknown:
        raise ReportError(f"columns: unknown measures {', '.join(unknown)}")
    summaries = {method: seed_summary([{k: v for k, v in row.items() if k not in NOT_MEASURES}
                                       for row in rows[method].values()]) for method in names}
    cells = {method: (max((count for _, _, count in summary.values()), default=0),
                      {key: format_cell(value) for key, value in summary.items() if keys is None or key in keys})
             for method, summary in summaries.items()}
    further = [column for column in FURTHER_COLUMNS if keys is not None and column[1] in keys]
    shown = COLUMNS + tuple(further)
    text = method_rows(cells, columns=shown)
    if baseline in rows:
        differences = {}
        for method in names:
            if method == baseline:
                continue
            estimates = {}
            for key in PAIRED_KEYS + tuple(key for _, key, _ in further):
                if keys is not None and key not in keys:
                    continue
                ours = {seed: row[key] for seed, row in rows[method].items() if valid_number(row.get(key))}
                theirs = {seed: row[key] for seed, row in rows[baseline].items() if valid_number(row.get(key))}
                if set(ours) & set(theirs):
                    estimates[key] = format_difference(paired_difference(ours, theirs))
            if estimates:
                count = len(set(rows[method]) & set(rows[baseline]))
                differences[f"{method} − {baseline}"] = (count, estimates)
        if differences:
            text += (f"\nDifference to {baseline} at equal seeds (mean ± 95 % CI, Student t; * where the CI excludes 0):\n\n"
                     + method_rows(differences, heading_prefix="Δ ", columns=shown))
    seeds = "; ".join(f"{method}: {', '.join(map(str, rows[method]))}" for method in names)
    text += f"\nSeeds: {seeds}.\n\n{identity_line(identities, records)}\n\n"
    trained = [row.get("provenance") for method in names for row in rows[method].values()]
    text += "Trained: " + provenance_summary(trained)[len("Provenance: "):] + "\n\n" + measured_summary(rows, names) + "\n"
    if figure is not None:
        drawn = chosen_methods(rows, listed(figure_methods), record) if figure_methods else names
        pareto_figure(rows, str(output / figure), methods=drawn, panels=listed(panels) or DEFAULT_PANELS)
        text += f"\n![Pareto picture]({figure})\n"
    return text


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(value) for value in values))


def tradeoff_section(folder: Path, output: Path, record: str, methods: str, baseline: str = "vanilla",
                     target: Optional[str] = None, factor: str = "10", within: str = "0.01", seeds: str = "3",
                     columns: Optional[str] = None, extra: Optional[str] = None, score: str = "test_score") -> str:
    """Each setting of `methods` (in the order given) against `baseline` at equal seeds: Δ `score`
    (mean ± 95 % CI), with `target` the per-seed ratio baseline ÷ setting of that measure and its
    geometric mean, attention entropy, and `columns` (mean ± std); then the verdict: the settings
    with at least `seeds` paired seeds, a mean score difference ≥ −`within` and (with `target`) a
    geometric-mean ratio ≥ `factor`, in the order given, or the statement that none is."""
    records = [record] + (listed(extra) or [])
    _, rows = read_rows(folder, records)
    names = chosen_methods(rows, listed(methods), record)
    if baseline not in rows:
        raise ReportError(f"{record}: no measures of the baseline {baseline}")
    factor_value, margin, needed = float(factor), float(within), int(seeds)
    further = listed(columns) or []
    heading = ["setting", "seeds", f"Δ {HEADINGS.get(score, score)} vs {baseline}"]
    if target:
        heading += [HEADINGS.get(target, target), f"ratio {baseline} ÷ setting, per seed", "geometric mean"]
    heading += ["attention entropy"] + [HEADINGS.get(key, key) for key in further]
    lines = ["| " + " | ".join(heading) + " |", "|---" * len(heading) + "|"]
    base = rows[baseline]
    meets, reasons = [], []
    for method in [baseline] + [name for name in names if name != baseline]:
        own = rows[method]
        paired = sorted(seed for seed in set(own) & set(base) if valid_number(own[seed].get(score)) and valid_number(base[seed].get(score)))
        summary = seed_summary([{k: v for k, v in row.items() if k not in NOT_MEASURES} for row in own.values()])
        cells = [method, str(len(own))]
        difference = paired_difference({s: own[s][score] for s in paired}, {s: base[s][score] for s in paired})
        cells.append("–" if method == baseline else format_difference(difference))
        ratio = None
        if target:
            cells.append(format_cell(summary[target]) if target in summary else "–")
            ratios = {s: base[s][target] / own[s][target] for s in sorted(set(own) & set(base))
                      if valid_number(own[s].get(target)) and valid_number(base[s].get(target)) and own[s][target] > 0}
            ratio = geometric_mean(list(ratios.values())) if ratios else None
            cells.append(", ".join(f"{s}: {format_ratio(r)}" for s, r in ratios.items()) or "–")
            cells.append(format_ratio(ratio) if ratio is not None else "–")
        cells.append(format_cell(summary["attention_entropy"]) if "attention_entropy" in summary else "–")
        cells += [format_cell(summary[key]) if key in summary else "–" for key in further]
        lines.append("| " + " | ".join(cells) + " |")
        if method == baseline:
            continue
        failed = []
        if len(paired) < needed:
            failed.append(f"{len(paired)} of {needed} seeds")
        if difference.count and difference.mean < -margin:
            failed.append(f"Δ {score} {format_value(difference.mean)} < −{format_value(margin)}")
        if target and (ratio is None or ratio < factor_value):
            failed.append(f"{target} ratio {format_ratio(ratio) if ratio is not None else '–'} < {factor_value:g}×")
        (reasons.append(f"{method} ({'; '.join(failed)})") if failed else meets.append(method))
    rule = (f"at least {needed} seeds paired with {baseline}, mean Δ {score} ≥ −{format_value(margin)}"
            + (f", and {target} at least {factor_value:g}× below {baseline}'s (geometric mean of the per-seed ratios)" if target else ""))
    verdict = (f"**Settings meeting every condition** ({rule}), in the order given: {', '.join(meets)}; the first is "
               f"**{meets[0]}**." if meets else f"**No setting meets every condition** ({rule}).")
    if reasons:
        verdict += " Not met: " + "; ".join(reasons) + "."
    return "\n".join(lines) + "\n\n" + verdict + "\n"


def format_ratio(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:#.3g}×"  # three digits; from 1,000 on in exponent form (1.02e+03×)


# Wrapped by a call, not a decorator: mutation testing (mutmut) leaves decorated functions unmutated.
robustness_section = when_made(robustness_section)
tradeoff_section = when_made(tradeoff_section)
