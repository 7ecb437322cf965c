"""The report of a sweep (`experiments/sweep.py`): per cell, mean ± 95 % CI over seeds of the test score and
every attention agreement, the paired difference to the baseline method at equal seeds, the ε chosen
per method by validation score, and three figures (validation score against ε, the paper's Figure 4;
agreement against ε; agreement against epoch)."""
import json
import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from attention_perturb.errors import SettingError  # noqa: E402
from attention_perturb.files import write_atomically  # noqa: E402
from attention_perturb.provenance import provenance_summary  # noqa: E402
from attention_perturb.experiments.record import FROM_RECORD  # noqa: E402
from attention_perturb.experiments.statistics import Estimate, mean_ci, paired_difference  # noqa: E402
from attention_perturb.experiments.table2 import test_agreements  # noqa: E402
from attention_perturb.experiments.sweep import (  # noqa: E402
    DEFAULT_VARIANT, GRID_FILE, Cell, baseline_cell, choose_epsilons, collect, grid_of_record, lower_is_better, plan_cells,
    short_key, update_record,
)

def agreement_names(results) -> List[str]:
    """The agreement metrics the runs' test evaluation reported (`pearson` first)."""
    names = set()
    for runs in results.values():
        for run in runs.values():
            names |= set(test_agreements(run))
    return sorted(names, key=lambda name: (name != "pearson", name))


def per_seed(runs: Dict[int, Dict[str, Any]], key: str, scale: float = 1.0) -> Dict[int, float]:
    return {seed: scale * run[key] for seed, run in runs.items() if key in run}


def cell_rows(cells: Sequence[Cell], results, metric: str, agreements: Sequence[str]) -> List[Dict[str, Any]]:
    """One record per cell with runs: estimates of the score (in %), each agreement and the best
    epoch, and paired differences to the baseline cell."""
    rows = []
    for cell in cells:
        runs = results.get(cell.name)
        if not runs:
            continue
        columns = {"score": per_seed(runs, f"test_{metric}", 100.0), "best_epoch": per_seed(runs, "best_epoch")}
        columns.update({name: per_seed(runs, f"test_{name}") for name in agreements})
        row: Dict[str, Any] = {"cell": cell.name, "method": cell.method, "setting": cell.setting,
                               "variant": cell.variant, "seeds": sorted(runs),
                               "estimates": {name: mean_ci(list(values.values())) for name, values in columns.items()}}
        baseline = baseline_cell(cell, cells)
        if baseline is not None and results.get(baseline.name):
            baseline_runs = results[baseline.name]
            row["baseline"] = baseline.name
            row["differences"] = {
                "score": paired_difference(columns["score"], per_seed(baseline_runs, f"test_{metric}", 100.0)),
                **{name: paired_difference(columns[name], per_seed(baseline_runs, f"test_{name}")) for name in agreements},
            }
        rows.append(row)
    return rows


def markdown(rows: List[Dict[str, Any]], agreements: Sequence[str], metric: str, chosen: Dict[str, Cell],
             selection_metric: str, command: str, resumed: Sequence[str] = (), recorded: Sequence[str] = ()) -> str:
    lines = [
        f"Test {metric} (%) and attention/importance agreements: mean ± 95 % CI (Student t) over seeds; the test "
        f"metrics are those of each run's epoch of best `{selection_metric.replace('best_', '')}` (allennlp's best model).",
        f"Δ = paired difference to the baseline cell (vanilla, same variant) at equal seeds, mean ± 95 % CI; "
        f"* marks a CI that excludes zero.",
        "",
        f"Made by: `{command}`",
        "",
        "| cell | seeds | " + " | ".join([metric] + list(agreements) + ["best epoch", f"Δ {metric}"]
                                         + [f"Δ {name}" for name in agreements]) + " |",
        "|" + "---|" * (4 + 2 * len(agreements) + 1),
    ]
    for row in rows:
        estimates, differences = row["estimates"], row.get("differences", {})

        def difference(name: str, digits: int) -> str:
            if name not in differences:
                return "-"
            estimate = differences[name]
            return estimate.format(digits) + (" *" if estimate.excludes_zero else "")

        cells = [estimates["score"].format(2)] + [estimates[name].format(3) for name in agreements]
        cells += [estimates["best_epoch"].format(1), difference("score", 2)] + [difference(name, 3) for name in agreements]
        lines.append(f"| {row['cell']} | {len(row['seeds'])} | " + " | ".join(cells) + " |")
    if resumed:
        lines += ["", "Continued from a checkpoint after an interruption (`--recover`): valid runs of their seed, but "
                  "not bit-for-bit what an uninterrupted run draws after the checkpoint: " + ", ".join(resumed) + "."]
    if recorded:
        lines += ["", "Read from the --record file (trained in an earlier sitting, whose run folders are gone): "
                  + ", ".join(recorded) + "."]
    if chosen:
        lines += ["", f"ε chosen per method by mean `{selection_metric}` over seeds "
                  f"(the {'lowest' if lower_is_better(selection_metric) else 'highest'}):", ""]
        lines += [f"- {method}: {cell.name}" for method, cell in chosen.items()]
    return "\n".join(lines) + "\n"


def epsilon_of(cell: Cell) -> float:
    return next(value for key, value in cell.setting.items() if short_key(key) == "epsilon")


def within_agreement_range(axis) -> None:
    """Every agreement lies in [-1, 1]; a t band over 3 seeds need not, and would set the axis."""
    low, high = axis.get_ylim()
    axis.set_ylim(max(low, -1.05), min(high, 1.05))


def plot_against_epsilon(path: Path, cells: Sequence[Cell], rows, agreement: str) -> None:
    """Mean test `agreement` against ε per method (default variant), with its 95 % CI band; the
    baseline as a horizontal band."""
    by_cell = {row["cell"]: row for row in rows}
    figure, axis = plt.subplots(figsize=(7, 5))
    methods = sorted({cell.method for cell in cells if cell.variant == DEFAULT_VARIANT and cell.setting})
    for method in methods:
        points = sorted((epsilon_of(cell), by_cell[cell.name]["estimates"][agreement]) for cell in cells
                        if cell.method == method and cell.variant == DEFAULT_VARIANT and cell.name in by_cell)
        if not points:
            continue
        epsilons = [epsilon for epsilon, _ in points]
        means = [estimate.mean for _, estimate in points]
        widths = [estimate.half_width or 0.0 for _, estimate in points]
        line, = axis.plot(epsilons, means, marker="o", label=method)
        axis.fill_between(epsilons, [m - w for m, w in zip(means, widths)], [m + w for m, w in zip(means, widths)],
                          alpha=0.2, color=line.get_color())
    for cell in cells:
        if not cell.setting and cell.variant == DEFAULT_VARIANT and cell.name in by_cell:
            estimate: Estimate = by_cell[cell.name]["estimates"][agreement]
            axis.axhline(estimate.mean, color="black", linestyle="--", label=cell.name)
            if estimate.half_width:
                axis.axhspan(estimate.mean - estimate.half_width, estimate.mean + estimate.half_width, color="grey", alpha=0.2)
    within_agreement_range(axis)
    axis.set_xscale("log")
    axis.set_xlabel("ε")
    axis.set_ylabel(f"test {agreement}")
    axis.legend()
    figure.tight_layout()
    write_atomically(path, lambda temporary: figure.savefig(temporary, format="png", dpi=120))
    plt.close(figure)


def validation_against_epsilon(cells: Sequence[Cell], results, selection_metric: str
                               ) -> Dict[str, List[Tuple[float, Dict[int, float]]]]:
    """Per method with an ε (default variant): [(ε, {seed: that run's `selection_metric`})] in ε
    order, over the cells with runs; the baseline's cell (no setting) under its own name with ε None."""
    points: Dict[str, List[Tuple[Optional[float], Dict[int, float]]]] = {}
    for cell in cells:
        runs = per_seed(results.get(cell.name, {}), selection_metric)
        if cell.variant != DEFAULT_VARIANT or not runs:
            continue
        if cell.setting:
            points.setdefault(cell.method, []).append((epsilon_of(cell), runs))
        else:
            points[cell.name] = [(None, runs)]
    return {method: sorted(values, key=lambda point: point[0] or 0.0) for method, values in points.items()}


def plot_validation_against_epsilon(path: Path, figure4: Dict[str, List[Tuple[Optional[float], Dict[int, float]]]],
                                    selection_metric: str) -> None:
    """The paper's Figure 4 from `validation_against_epsilon`'s points: every run's best validation
    score against ε, one point per run and a line through each method's means; the baseline's runs
    as dotted lines and their mean as a dashed one."""
    figure, axis = plt.subplots(figsize=(7, 5))
    scale = 100.0 if selection_metric.endswith(("f1", "accuracy")) else 1.0
    seeds = sorted({seed for points in figure4.values() for _, runs in points for seed in runs})
    for method, points in figure4.items():
        if points[0][0] is None:
            values = [scale * value for value in points[0][1].values()]
            for value in values:
                axis.axhline(value, color="grey", linestyle=":", linewidth=0.8)
            axis.axhline(mean_ci(values).mean, color="black", linestyle="--",
                         label=f"{method} (mean; dotted: its {len(values)} runs)")
            continue
        line, = axis.plot([epsilon for epsilon, _ in points],
                          [scale * mean_ci(list(runs.values())).mean for _, runs in points], marker="o", label=method)
        scattered = [(epsilon, scale * value) for epsilon, runs in points for value in runs.values()]
        axis.scatter([e for e, _ in scattered], [v for _, v in scattered], s=12, alpha=0.5, color=line.get_color())
    axis.set_xscale("log")
    axis.set_xlabel("ε")
    axis.set_ylabel(selection_metric.replace("best_", "best ") + (" (%)" if scale == 100.0 else ""))
    axis.set_title(f"points: one run each (seeds {', '.join(map(str, seeds))}); lines: means", fontsize=9)
    axis.legend(fontsize=8)
    figure.tight_layout()
    write_atomically(path, lambda temporary: figure.savefig(temporary, format="png", dpi=120))
    plt.close(figure)


def epoch_estimates(curves: Sequence[Sequence[float]]) -> List[Estimate]:
    """Per epoch, up to the longest curve: mean ± 95 % CI over the curves that reached that epoch (runs
    end at different epochs when a callback such as `stop_at_validation_ceiling` ends some early)."""
    return [mean_ci([curve[epoch] for curve in curves if epoch < len(curve)])
            for epoch in range(max((len(curve) for curve in curves), default=0))]


def plot_against_epoch(path: Path, cells: Sequence[Cell], results, agreement: str) -> None:
    """Mean validation `agreement` per epoch of each given cell, with its 95 % CI band. Where some of a
    cell's runs have ended, the line goes on dotted over the runs still training; the band stops where
    one run is left."""
    figure, axis = plt.subplots(figsize=(7, 5))
    for cell in cells:
        curves = [run["validation_curve"].get(agreement) for run in results.get(cell.name, {}).values()]
        curves = [curve for curve in curves if curve]
        if not curves:
            continue
        estimates = epoch_estimates(curves)
        means = [estimate.mean for estimate in estimates]
        every_run = min(len(curve) for curve in curves)
        line, = axis.plot(range(every_run), means[:every_run], marker="o" if len(means) <= 30 else None,
                          label=f"{cell.name} ({len(curves)} runs)")
        if every_run < len(means):
            axis.plot(range(every_run - 1, len(means)), means[every_run - 1:], linestyle=":", color=line.get_color())
        banded = [(epoch, estimate) for epoch, estimate in enumerate(estimates) if estimate.half_width is not None]
        axis.fill_between([epoch for epoch, _ in banded], [e.mean - e.half_width for _, e in banded],
                          [e.mean + e.half_width for _, e in banded], alpha=0.2, color=line.get_color())
    within_agreement_range(axis)
    axis.set_xlabel("epoch")
    axis.set_ylabel(f"validation {agreement} (dotted: the runs still training)")
    axis.legend(fontsize=8)
    figure.tight_layout()
    write_atomically(path, lambda temporary: figure.savefig(temporary, format="png", dpi=120))
    plt.close(figure)


def write_report(output_dir: Path, grid: Dict[str, Any], results, metric: str, command: str) -> str:
    """report.md, report.json and the figures in `output_dir`; returns the markdown."""
    cells = plan_cells(grid)
    agreements = agreement_names(results)
    rows = cell_rows(cells, results, metric, agreements)
    selection_metric = f"best_validation_{metric}"
    chosen = choose_epsilons(cells, results, selection_metric)
    def runs_marked(flag: str) -> List[str]:
        return [f"{cell.name} seed {seed}" for cell in cells
                for seed, run in sorted(results.get(cell.name, {}).items()) if run.get(flag)]

    resumed, recorded = runs_marked("resumed"), runs_marked(FROM_RECORD)
    text = markdown(rows, agreements, metric, chosen, selection_metric, command, resumed, recorded)
    text += "\n" + provenance_summary([run.get("provenance") for seeds in results.values() for run in seeds.values()]) + "\n"
    write_atomically(output_dir / "report.md", text)

    def plain(value):
        if isinstance(value, Estimate):
            return {"mean": value.mean, "ci95": value.half_width, "n": value.count}
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        if isinstance(value, float) and math.isnan(value):
            return None
        return value

    figure4 = validation_against_epsilon(cells, results, selection_metric)
    report = {"rows": [plain(row) for row in rows], "chosen_epsilon": {m: c.name for m, c in chosen.items()},
              "validation_against_epsilon": {method: [[epsilon, {str(seed): value for seed, value in runs.items()}]
                                                      for epsilon, runs in points] for method, points in figure4.items()},
              "resumed": resumed, "from_record": recorded, "command": command}
    write_atomically(output_dir / "report.json", json.dumps(report, indent=2) + "\n")
    if any(cell.setting for cell in cells):
        plot_validation_against_epsilon(output_dir / "validation_against_epsilon.png", figure4, selection_metric)
    if "pearson" in agreements:
        if any(cell.setting for cell in cells):
            plot_against_epsilon(output_dir / "pearson_against_epsilon.png", cells, rows, "pearson")
        shown = [cell for cell in cells if cell.variant == DEFAULT_VARIANT and (not cell.setting or cell in chosen.values())]
        plot_against_epoch(output_dir / "pearson_against_epoch.png", shown or cells, results, "pearson")
    return text


def report_sweep(output_dir: str, record: Optional[str], metric: str, command: str) -> List[str]:
    """`write_report` of a sweep's folder, its runs read from the folder and the `record` (which it
    updates), or from the record alone when the folder is gone; returns the lines to print."""
    output_dir = Path(output_dir)
    grid_file = output_dir / GRID_FILE
    if grid_file.is_file():
        grid = json.loads(grid_file.read_text())
    else:  # the record alone: its sitting's folder is gone
        grid = grid_of_record(Path(record)) if record else None
        if grid is None:
            raise SettingError("output_dir", f"{grid_file} does not exist (not a sweep folder?)")
    results = update_record(Path(record), output_dir, grid) if record else collect(output_dir, grid)
    if not results:
        raise SettingError("output_dir", f"{output_dir} has no finished runs yet")
    lines = [write_report(output_dir, grid, results, metric, command), f"written to {output_dir / 'report.md'}"]
    if record:
        lines.append(f"{sum(map(len, results.values()))} finished runs of this grid's seeds in {record}")
    return lines
