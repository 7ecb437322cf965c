"""Results files whose numbers are regenerated from committed records, never typed by hand.

A results file (Markdown) holds its prose as written and, between two marker lines, sections that
`allennlp results` writes from a record:

    <!-- begin table2 record=sst_table2.json -->
    ...generated...
    <!-- end table2 -->

Paths are relative to the results file's folder. The kinds:

- `table2 record=R`: Table 2 of a `reproduce-table2 --record` (`table2_of_runs`), with paired
  differences, further agreements, costs and provenance.
- `measures record=R`: every test agreement under every importance measure of a record of runs
  (Table 2's or `evaluate_archives`'), mean ± 95 % CI over seeds and the paired difference to vanilla.
- `sweep record=R grid=G figures=D [metric=M]`: the report of a `sweep run --record` (its table,
  chosen ε, provenance), with its figures and report.json written into folder D.
- `robustness record=R [extra=R2,...] [methods=a,b] [columns=k,l] [figure=F.png] [panels=p,q]`: the
  robustness table of a `robustness-table --record` (mean ± std, paired differences to vanilla,
  provenance of trainings and measures) and its Pareto picture F (`experiments/robustness_report.py`).
- `tradeoff record=R methods=a,b [target=pgd_tvd] [factor=10] [within=0.01] [seeds=3] [columns=k,l]
  [extra=R2]`: a sweep's settings against vanilla at equal seeds, and the verdict naming the
  settings within `within` of vanilla's score (and `factor`× below it on `target`), or that none is.

`regenerate(folder, check=True)` names the files whose sections differ from what their records give,
writing nothing: a clean clone must show none.
"""
import re
import tempfile
import shlex
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

from attention_perturb.files import write_atomically
from attention_perturb.provenance import provenance_summary
from attention_perturb.experiments.record import Runs, read_identity, read_record
from attention_perturb.experiments.statistics import mean_ci, paired_difference
from attention_perturb.experiments.methods import title
from attention_perturb.experiments.table2 import in_registry_order, table2_of_runs, test_agreements

SECTION = re.compile(r"^<!-- begin (?P<kind>\w+)(?P<arguments>[^>]*)-->\n(?P<body>.*?)^<!-- end (?P=kind) -->$",
                     re.MULTILINE | re.DOTALL)


class ResultsError(ValueError):
    """A results file whose generated section cannot be made: unknown kind, missing argument or record."""


def recorded(path: Path) -> Tuple[Dict[str, Any], Runs]:
    """(identity, runs) of the record at `path`."""
    identity = read_identity(path)
    if identity is None:
        raise ResultsError(f"{path}: no such record")
    return identity, read_record(path, identity)


def table2_section(folder: Path, output: Path, record: str) -> str:
    path = folder / record
    identity, runs = recorded(path)
    return table2_of_runs(identity["dataset"], runs, lambda method, seed: f"{path}: {method} seed {seed}")


AGREEMENTS = ("pearson", "kendall", "top5")


def measures_markdown(runs: Dict[str, Dict[int, Dict[str, float]]]) -> str:
    """One table per agreement (Pearson, Kendall τ, top-5): a column per importance measure found in
    the runs' test metrics, mean ± 95 % CI over seeds per method, and the paired difference to
    vanilla at equal seeds (* where its CI excludes zero)."""
    agreements = {method: {seed: test_agreements(run["metrics"]) for seed, run in seeds.items()}
                  for method, seeds in runs.items()}
    found = {name for seeds in agreements.values() for values in seeds.values() for name in values}
    measures = [""] + sorted({name[len("pearson_"):] for name in found if name.startswith("pearson_")})
    lines: List[str] = []
    for agreement in AGREEMENTS:
        columns = [agreement + (f"_{measure}" if measure else "") for measure in measures]
        columns = [column for column in columns if column in found]
        if not columns:  # no run reported this agreement: no table rather than one without columns
            continue
        lines += ["", f"{agreement}: mean ± 95 % CI over seeds; Δ = paired difference to vanilla at equal seeds "
                  "(* where its CI excludes zero)", "",
                  "| method | seeds | " + " | ".join(columns) + " | " + " | ".join(f"Δ {c}" for c in columns) + " |",
                  "|---" * (2 + 2 * len(columns)) + "|"]
        for method in in_registry_order(agreements):
            seeds = agreements[method]

            def values(column: str, of: Dict[int, Dict[str, float]] = seeds) -> Dict[int, float]:
                return {seed: run[column] for seed, run in of.items() if column in run}

            cells = [mean_ci(list(values(column).values())).format(3) for column in columns]
            deltas = []
            for column in columns:
                if method == "vanilla" or "vanilla" not in agreements:
                    deltas.append("-")
                    continue
                delta = paired_difference(values(column), values(column, agreements["vanilla"]))
                spread = "" if delta.half_width is None else f" ± {delta.half_width:.3f}"
                deltas.append("-" if delta.count == 0 else
                              f"{delta.mean:+.3f}{spread}" + (" *" if delta.excludes_zero else ""))
            lines.append(f"| {title(method)} | {len(seeds)} | " + " | ".join(cells + deltas) + " |")
    provenances = [run.get("provenance") for seeds in runs.values() for _, run in sorted(seeds.items())]
    return "\n".join(lines[1:]) + "\n\n" + provenance_summary(provenances) + "\n"


def measures_section(folder: Path, output: Path, record: str) -> str:
    return measures_markdown(recorded(folder / record)[1])


def sweep_section(folder: Path, output: Path, record: str, grid: str, figures: str, metric: str = "f1") -> str:
    from attention_perturb.experiments.sweep import read_grid, recorded_runs  # the sweep imports Ray
    from attention_perturb.experiments.sweep_report import write_report

    grid_values = read_grid(folder / grid)
    recorded(folder / record)  # a record's name mistyped is an error, not an empty table
    runs = recorded_runs(folder / record, grid_values)
    # The report's runs all come from the record: it needs no note saying so.
    plain = {cell: {seed: {k: v for k, v in run.items() if k != "from_record"} for seed, run in seeds.items()}
             for cell, seeds in runs.items()}
    command = f"allennlp sweep report --record {record} --grid {grid} --metric {metric}"
    return write_report(output / figures, grid_values, plain, metric, command)


def robustness_section(folder: Path, output: Path, **settings: str) -> str:
    from attention_perturb.experiments.robustness_report import robustness_section as section  # imports allennlp's training

    return section(folder, output, **settings)


def tradeoff_section(folder: Path, output: Path, **settings: str) -> str:
    from attention_perturb.experiments.robustness_report import tradeoff_section as section

    return section(folder, output, **settings)


GENERATORS: Dict[str, Callable[..., str]] = {"table2": table2_section, "measures": measures_section,
                                             "sweep": sweep_section, "robustness": robustness_section,
                                             "tradeoff": tradeoff_section}


def render(path: Path, output: Path) -> str:
    """The text of the results file at `path` with every generated section made anew from the
    records (read relative to the file's folder); the files a section writes go under `output`."""
    text = path.read_text()

    def section(match: "re.Match[str]") -> str:
        kind, arguments = match["kind"], match["arguments"].strip()
        line = text[:match.start()].count("\n") + 1
        if kind not in GENERATORS:
            raise ResultsError(f"{path}:{line}: unknown section kind {kind!r} (one of {', '.join(GENERATORS)})")
        try:
            settings = dict(argument.split("=", 1) for argument in shlex.split(arguments))
        except ValueError as error:
            raise ResultsError(f"{path}:{line}: arguments must be key=value, got {arguments!r}") from error
        from attention_perturb.experiments.robustness_report import ReportError

        try:
            body = GENERATORS[kind](path.parent, output, **settings)
        except (TypeError, ReportError) as error:
            raise ResultsError(f"{path}:{line}: {kind}: {error}") from error
        return f"<!-- begin {kind} {arguments} -->\n{body.rstrip()}\n<!-- end {kind} -->"

    return SECTION.sub(section, text)


def regenerate(folder: Path, check: bool = False) -> List[Path]:
    """Every results file of `folder` with generated sections, and the files those sections write,
    made anew from the records; returns the paths whose content changed. With `check` they are
    made in a scratch folder and compared, and nothing in `folder` is written."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) if check else folder
        changed = []
        for path in sorted(folder.glob("*.md")):
            original = path.read_text()
            if not SECTION.search(original):
                continue
            text = render(path, output)
            if text != original:
                changed.append(path)
                if not check:
                    write_atomically(path, text)
        if check:
            for written in sorted(p for p in output.rglob("*") if p.is_file()):
                committed = folder / written.relative_to(output)
                if not committed.is_file() or committed.read_bytes() != written.read_bytes():
                    changed.append(committed)
    return changed
