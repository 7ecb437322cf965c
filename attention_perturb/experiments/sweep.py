"""
A grid sweep for studies over seeds: cells (method × grid values × variant) × seeds, each cell and
seed one real `allennlp train`, run as Ray Tune trials by `tune.search.run_trials` (so it runs on a
local Ray or a cluster, and a rerun resumes: finished runs are kept, interrupted ones continue from their
last checkpoint). Layout:

    <out>/sweep.json                    the grid file it was started with (a rerun must match)
    <out>/<cell>/seed_<n>/trial/        the run's serialization dir
    <out>/<cell>/seed_<n>/train.log
    <out>/<cell>/seed_<n>/node.json     the Ray node it ran on

A grid file (JSON):

    {
      "dataset": "sst",
      "config": "training_configs/{dataset}_{method}.jsonnet",
      "methods": ["vanilla", "attention_at", "attention_iat"],
      "seeds": [1, 2, 3],
      "grid": {"model.perturbation.epsilon": {"values": [0.1, 1, 10], "methods": ["attention_at", "attention_iat"]}},
      "variants": {"standardised": {"model.text_field_embedder.token_embedders.tokens.normalize": true}},
      "overrides": {"trainer.num_epochs": 8}
    }

`grid` values multiply (a plain list applies to every method; `methods` restricts a key), each
`variants` entry is a named set of overrides, or `{"overrides": {...}, "methods": [...]}` for some
methods only (the cells without one are the `default` variant),
`overrides` apply to every run, and every run gets its seed as random/numpy/pytorch seed.
"""
import itertools
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

from attention_perturb.errors import SettingError, UsageError
from attention_perturb.files import write_atomically
from attention_perturb.provenance import run_provenance
from attention_perturb.experiments.methods import config_for
from attention_perturb.experiments.record import RecordError, Runs, merge, read_identity, read_record, write_record
from attention_perturb.training.runs import SEED_KEYS, Trial, is_finished
from attention_perturb.experiments.statistics import mean_ci

GRID_FILE = "sweep.json"
RESUMED_MARK = "Recovering from prior training"  # what allennlp logs when --recover continues a run
DEFAULT_VARIANT = "default"
GRID_KEYS = {"dataset", "config", "methods", "seeds", "grid", "variants", "overrides"}


class Cell(NamedTuple):
    name: str
    method: str
    setting: Dict[str, Any]  # grid key -> value
    variant: str
    overrides: Dict[str, Any]  # the cell's own overrides (grid values and variant)


def short_key(key: str) -> str:
    return key.split(".")[-1]


def cell_name(method: str, setting: Dict[str, Any], variant: str) -> str:
    parts = [method] + [f"{short_key(key)}={value:g}" if isinstance(value, float) else f"{short_key(key)}={value}"
                        for key, value in setting.items()]
    if variant != DEFAULT_VARIANT:
        parts.append(variant)
    return "__".join(parts)


def read_grid(path: Path) -> Dict[str, Any]:
    """The grid file, checked; errors name the file and the key."""
    if not Path(path).is_file():
        raise SettingError("grid", f"{path} is not a file")
    try:
        grid = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    unknown = set(grid) - GRID_KEYS
    if unknown:
        raise UsageError(f"{path}: unknown keys {sorted(unknown)}; a grid file has {sorted(GRID_KEYS)}")
    for key in ("config", "methods"):
        if key not in grid:
            raise UsageError(f"{path}: no {key!r}")
    seeds = grid.get("seeds", 3)
    grid["seeds"] = list(range(1, seeds + 1)) if isinstance(seeds, int) else list(seeds)
    if not grid["seeds"] or not all(isinstance(seed, int) for seed in grid["seeds"]):
        raise UsageError(f"{path}: 'seeds' must be a count or a list of integers, got {seeds!r}")
    for key, values in grid.get("grid", {}).items():
        entry = values if isinstance(values, dict) else {"values": values}
        if not isinstance(entry.get("values"), list) or not entry["values"]:
            raise UsageError(f"{path}: grid[{key!r}] needs a non-empty list of values")
        unknown_methods = set(entry.get("methods", [])) - set(grid["methods"])
        if unknown_methods:
            raise UsageError(f"{path}: grid[{key!r}] names methods not in 'methods': {sorted(unknown_methods)}")
    settings = [("overrides", grid.get("overrides", {})), ("grid", grid.get("grid", {})),
                *((f"variants[{name!r}]", variant_overrides(variant)) for name, variant in grid.get("variants", {}).items())]
    for where, keys in settings:
        seeded = [key for key in SEED_KEYS if key in keys]
        if seeded:
            raise UsageError(f"{path}: {where} sets {', '.join(seeded)}: each run's seeds are its seed of 'seeds'")
    for name, variant in grid.get("variants", {}).items():
        if name == DEFAULT_VARIANT or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise UsageError(f"{path}: variant name {name!r} must be letters, digits and _ and not {DEFAULT_VARIANT!r}")
        unknown_methods = set(variant_methods(variant, grid["methods"])) - set(grid["methods"])
        if unknown_methods:
            raise UsageError(f"{path}: variants[{name!r}] names methods not in 'methods': {sorted(unknown_methods)}")
    return grid


def variant_methods(variant: Dict[str, Any], methods: Sequence[str]) -> Sequence[str]:
    return variant["methods"] if set(variant) == {"overrides", "methods"} else methods


def variant_overrides(variant: Dict[str, Any]) -> Dict[str, Any]:
    return variant["overrides"] if set(variant) == {"overrides", "methods"} else variant


def plan_cells(grid: Dict[str, Any]) -> List[Cell]:
    """Every cell of the grid, in the order of `methods`, then grid values, then variants."""
    variants = {DEFAULT_VARIANT: {}, **grid.get("variants", {})}
    cells = []
    for method in grid["methods"]:
        keys, value_lists = [], []
        for key, values in grid.get("grid", {}).items():
            entry = values if isinstance(values, dict) else {"values": values}
            if method in entry.get("methods", grid["methods"]):
                keys.append(key)
                value_lists.append(entry["values"])
        for values in itertools.product(*value_lists):
            setting = dict(zip(keys, values))
            for variant, entry in variants.items():
                if method in variant_methods(entry, grid["methods"]):
                    cells.append(Cell(cell_name(method, setting, variant), method, setting, variant,
                                      {**setting, **variant_overrides(entry)}))
    return cells


def run_directory(output_dir: Path, cell: Cell, seed: int) -> Path:
    return Path(output_dir) / cell.name / f"seed_{seed}"


def trial_name(cell_name: str, seed: int) -> str:
    return f"{cell_name}__seed_{seed}"


def plan_trials(output_dir: Path, grid: Dict[str, Any]) -> List[Trial]:
    """One trial per cell and seed, with its config file and overrides; seed by seed, so that a
    sweep stopped part-way has every cell at its first seeds rather than some cells at none."""
    dataset = grid.get("dataset", "")
    trials = []
    for seed in grid["seeds"]:
        for cell in plan_cells(grid):
            config = config_for(grid["config"], dataset, cell.method)
            overrides = {**grid.get("overrides", {}), **cell.overrides, **{key: seed for key in SEED_KEYS}}
            trials.append(Trial(trial_name(cell.name, seed), {"METHOD": cell.method, "DATASET": dataset},
                                run_directory(output_dir, cell, seed), config=config, overrides=json.dumps(overrides)))
    return trials


def shared_runs(runs: Dict[str, Dict[int, Any]], grid: Dict[str, Any], other_grid: Dict[str, Any]) -> Dict[str, Dict[int, Any]]:
    """The runs of `grid` that `other_grid` would train identically: same trial name, config file,
    environment and overrides (seed included). A grid that repeats another's cells beside new ones
    (e.g. other ε for some methods) takes over their runs this way instead of training them again."""
    seeds = sorted({seed for cell_runs in runs.values() for seed in cell_runs})

    def trials(of_grid: Dict[str, Any]) -> Dict[str, Any]:
        return {trial.name: (trial.config, trial.environment, json.loads(trial.overrides))
                for trial in plan_trials(Path(), {**of_grid, "seeds": seeds})}  # folders unread

    mine, theirs = trials(grid), trials(other_grid)
    shared: Dict[str, Dict[int, Any]] = {}
    for cell, cell_runs in runs.items():
        for seed, run in cell_runs.items():
            name = trial_name(cell, seed)
            if name in theirs and mine.get(name) == theirs[name]:
                shared.setdefault(cell, {})[seed] = run
    return shared


def save_grid(output_dir: Path, grid: Dict[str, Any]) -> None:
    """Records the grid, or refuses one that differs from the grid the folder was started with."""
    path = Path(output_dir) / GRID_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved != grid:
            raise UsageError(f"{path}: this folder was started with another grid; rerun with that grid file or "
                             f"choose another -o")
        return
    write_atomically(path, json.dumps(grid, indent=2) + "\n")


# Results.
def read_run(serialization_dir: Path) -> Dict[str, Any]:
    """A finished run's metrics.json plus `validation_curve`: {metric: [value per epoch]} of the
    per-epoch validation agreement and score (metrics_epoch_N.json), `resumed` and `provenance`
    (`run_provenance`)."""
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    curve: Dict[str, List[float]] = {}
    epochs = sorted(serialization_dir.glob("metrics_epoch_*.json"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    for path in epochs:
        for key, value in json.loads(path.read_text()).items():
            if key.startswith("validation_") and isinstance(value, (int, float)):
                curve.setdefault(key[len("validation_"):], []).append(value)
    metrics["validation_curve"] = curve
    metrics["provenance"] = run_provenance(serialization_dir)
    log = serialization_dir.parent / "train.log"
    metrics["resumed"] = log.is_file() and RESUMED_MARK in log.read_text(errors="replace")
    return metrics


def collect(output_dir: Path, grid: Dict[str, Any]) -> Dict[str, Dict[int, Dict[str, Any]]]:
    """{cell name: {seed: run metrics}} of the finished runs."""
    results: Dict[str, Dict[int, Dict[str, Any]]] = {}
    for cell in plan_cells(grid):
        for seed in grid["seeds"]:
            serialization_dir = run_directory(output_dir, cell, seed) / "trial"
            if is_finished(serialization_dir):
                results.setdefault(cell.name, {})[seed] = read_run(serialization_dir)
    return results


def record_identity(grid: Dict[str, Any]) -> Dict[str, Any]:
    """What a sweep's record (`experiments/record.py`) must share with the sweep that reads it: the grid
    but its seeds, as a later sitting may add seeds."""
    return {"grid": {key: value for key, value in grid.items() if key != "seeds"}}


def grid_of_record(path: Path) -> Optional[Dict[str, Any]]:
    """The grid a record was made by, with the seeds it holds runs of; None if there is no record yet."""
    identity = read_identity(path)
    if identity is None:
        return None
    if "grid" not in identity:
        raise RecordError(f"{path}: not a sweep's record (it has no grid; a reproduce-table2 record?)")
    runs = read_record(path, identity)
    return {**identity["grid"], "seeds": sorted({seed for seeds in runs.values() for seed in seeds})}


def of_grid_seeds(runs: Runs, grid: Dict[str, Any]) -> Runs:
    return {cell: {seed: run for seed, run in seeds.items() if seed in grid["seeds"]} for cell, seeds in runs.items()}


def recorded_runs(path: Path, grid: Dict[str, Any]) -> Runs:
    """The record's runs of the grid's seeds (of every cell it holds)."""
    return of_grid_seeds(read_record(path, record_identity(grid)), grid)


def update_record(path: Path, output_dir: Path, grid: Dict[str, Any]) -> Runs:
    """Adds the folder's finished runs to the record (a run both hold is the folder's); returns
    the runs of the grid's seeds, recorded or in the folder."""
    identity = record_identity(grid)
    runs = merge(read_record(path, identity), collect(output_dir, grid))
    write_record(path, identity, runs)
    return of_grid_seeds(runs, grid)


def baseline_cell(cell: Cell, cells: Sequence[Cell], baseline_method: str = "vanilla") -> Optional[Cell]:
    """The baseline method's cell with the same variant, else its default cell (the paired
    comparison at equal seeds); None for the baseline's own default cell."""
    for variant in (cell.variant, DEFAULT_VARIANT):
        for candidate in cells:
            if candidate.method == baseline_method and candidate.variant == variant and candidate != cell:
                return candidate
    return None


def lower_is_better(metric: str) -> bool:
    """A loss ranks by the smaller value, as `tune report` ranks it."""
    return metric.endswith("loss")


def choose_epsilons(cells: Sequence[Cell], results, selection_metric: str) -> Dict[str, Cell]:
    """Per method with an ε grid (default variant): the cell of best mean `selection_metric` (e.g.
    best_validation_f1, the highest; a loss, the lowest) over its seeds, the first on ties, as the
    paper picks ε by validation score."""
    chosen: Dict[str, Cell] = {}
    best: Dict[str, float] = {}
    for cell in cells:
        if cell.variant != DEFAULT_VARIANT or not any(short_key(k) == "epsilon" for k in cell.setting):
            continue
        runs = results.get(cell.name, {})
        score = mean_ci([run[selection_metric] for run in runs.values() if selection_metric in run]).mean
        if lower_is_better(selection_metric):
            score = -score
        if runs and not math.isnan(score) and score > best.get(cell.method, -math.inf):
            chosen[cell.method], best[cell.method] = cell, score
    return chosen
