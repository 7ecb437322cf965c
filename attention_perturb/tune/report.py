"""`results.jsonl` from an experiment folder, in allentune's format: one record per finished trial,
its `config.json` flattened with dots (`model.perturbation.epsilon`) overlaid by its `metrics.json`,
`training_duration` in seconds (over every process that trained a resumed trial), plus the trial's
environment variables under their own names, its run name (`trial`), the experiment's name
(`model`, the series name `plot` groups by) and the Ray node it ran on (`node_id`, `node_ip`)."""
import datetime
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pandas as pd

from attention_perturb.errors import SettingError
from attention_perturb.files import write_atomically
from attention_perturb.experiments.epochs import epoch_costs, seconds_over_every_process
from attention_perturb.tune.experiment import Experiment, trial_environment, trial_node


def trial_record(trial_directory: Path, model: str) -> Dict:
    config = json.loads((trial_directory / "config.json").read_text())
    metrics = json.loads((trial_directory / "metrics.json").read_text())
    record = {**pd.json_normalize(config).iloc[0].to_dict(), **metrics}
    epochs = epoch_costs(trial_directory, metrics.get("epoch"))
    if epochs:  # a resumed trial's metrics.json times its last process alone
        clock = seconds_over_every_process([epoch["training_duration"] for epoch in epochs])
        record["training_duration"] = str(datetime.timedelta(seconds=clock))
    for key, value in trial_environment(trial_directory).items():
        record[key] = _number_or_string(value)
    node = trial_node(trial_directory)
    for key in ("node_id", "node_ip"):
        if key in node:
            record[key] = node[key]
    record["trial"] = trial_directory.parent.name
    record["model"] = model
    return record


def _number_or_string(value: str):
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def collect_results(experiment_directory: Path, model: Optional[str] = None) -> pd.DataFrame:
    experiment = Experiment(experiment_directory)
    trial_directories = experiment.trial_directories()
    if not trial_directories:
        raise FileNotFoundError(f"{experiment_directory}: no finished trials (run_*/trial/metrics.json)")
    name = model or experiment.directory.resolve().name
    frame = pd.DataFrame([trial_record(directory, name) for directory in trial_directories])
    if "training_duration" in frame:
        frame["training_duration"] = pd.to_timedelta(frame["training_duration"]).dt.total_seconds()
    return frame


def default_performance_metric(frame: pd.DataFrame) -> str:
    """`best_validation_<m>` for the trainer's `validation_metric` (e.g. `+f1` -> `best_validation_f1`)."""
    metrics = set(frame.get("trainer.validation_metric", pd.Series(dtype=object)).dropna())
    if len(metrics) != 1:
        raise SettingError("performance_metric", f"needed, as the trials' trainer.validation_metric is {sorted(metrics)}")
    return "best_validation_" + metrics.pop().lstrip("+-")


def lower_is_better(frame: pd.DataFrame, performance_metric: str) -> bool:
    """allentune ranks trials by the larger value; a loss, or a metric the trainer minimised
    (`validation_metric: "-m"`), ranks by the smaller."""
    name = performance_metric.replace("best_validation_", "", 1)
    minimised = {
        metric.lstrip("+-") for metric in frame.get("trainer.validation_metric", pd.Series(dtype=object)).dropna()
        if metric.startswith("-")
    }
    return name in minimised or name.endswith("loss")


def best_trial(frame: pd.DataFrame, performance_metric: str) -> pd.Series:
    scores = frame[performance_metric]
    return frame.loc[scores.idxmin() if lower_is_better(frame, performance_metric) else scores.idxmax()]


def write_results(frame: pd.DataFrame, path: Path) -> None:
    write_atomically(path, frame.to_json(lines=True, orient="records").rstrip("\n") + "\n")


def markdown_table(frame: pd.DataFrame, performance_metric: str, hyperparameters: Sequence[str]) -> str:
    """Trials sorted best first: run, hyperparameters, performance metric, training seconds."""
    if performance_metric not in frame:
        raise SettingError("performance_metric", f"{performance_metric!r} is not a recorded metric; "
                       f"best_validation_* metrics are {sorted(c for c in frame if c.startswith('best_validation_'))}")
    columns = ["trial", *hyperparameters, performance_metric]
    if "training_duration" in frame:
        columns.append("training_duration")
    rows = frame.sort_values(performance_metric, ascending=lower_is_better(frame, performance_metric))[columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in rows.iterrows():
        lines.append("| " + " | ".join(_cell(row[column]) for column in columns) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def sampled_hyperparameters(experiment_directory: Path, frame: pd.DataFrame) -> List[str]:
    """The environment variables the search sampled (fixed ones left out), as recorded in search.json."""
    plan_file = Experiment(experiment_directory).plan_file
    if not plan_file.is_file():
        return []
    space = json.loads(plan_file.read_text())["settings"]["search_space"]
    return [key for key, spec in space.items() if isinstance(spec, dict) and key in frame]


def report(log_dir: str, model: Optional[str] = None, throttle: Optional[int] = None,
           performance_metric: Optional[str] = None) -> List[str]:
    """allentune's report of an experiment folder: `results.jsonl` written there, and the lines to
    print (the file, the number of trials, the ranked table, the best trial)."""
    directory = Path(log_dir)
    frame = collect_results(directory, model)
    if throttle:
        frame["dataset_reader.sample"] = throttle
    metric = performance_metric or default_performance_metric(frame)
    table = markdown_table(frame, metric, sampled_hyperparameters(directory, frame))
    output_file = directory / "results.jsonl"
    write_results(frame, output_file)
    best = best_trial(frame, metric)
    return [f"results written to {output_file}", f"total experiments: {len(frame)}", table,
            f"best perf: {best[metric]} ({best['trial']})"]
