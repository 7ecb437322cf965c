"""`allennlp sweep run`: a grid's runs (`experiments/sweep.py`) as Ray Tune trials, resumable and recorded."""
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from attention_perturb.errors import SettingError, StoppedBeforeTheEnd
from attention_perturb.experiments.record import recording
from attention_perturb.experiments.sweep import plan_trials, read_grid, recorded_runs, save_grid, trial_name, update_record
from attention_perturb.training.runs import is_finished, thread_environment


def run_sweep(grid_file: str, output_dir: str, record: Optional[str] = None, methods: Optional[Sequence[str]] = None,
              dry_run: bool = False, num_cpus: Optional[int] = None, cpus_per_trial: int = 1,
              ray_address: Optional[str] = None, include_packages: Sequence[str] = (),
              report: Callable[[str], None] = print) -> None:
    """Trains every run of the grid in `grid_file` (cells × seeds, see `experiments/sweep.py`) that
    neither `output_dir` nor the `record` holds finished, as Ray Tune trials (`run_trials`): on a
    local Ray of `num_cpus` CPUs, or the cluster at `ray_address`; `methods` trains only those
    methods' cells this time. A rerun resumes; the record is updated after each finished run."""
    grid = read_grid(Path(grid_file))
    output_dir = Path(output_dir).resolve()
    recorded = set()
    if record:
        recorded = {trial_name(cell, seed) for cell, seeds in recorded_runs(Path(record), grid).items()
                    for seed in seeds}
    trials = [trial for trial in plan_trials(output_dir, grid) if trial.name not in recorded]
    total = len(trials) + len(recorded)
    left_for_later = []
    if methods:
        methods = list(dict.fromkeys(methods))
        unknown = sorted(set(methods) - set(grid["methods"]))
        if unknown:
            raise SettingError("methods", f"{', '.join(unknown)} not among the grid's methods ({', '.join(grid['methods'])})")
        left_for_later = [trial for trial in trials if trial.environment["METHOD"] not in methods]
        trials = [trial for trial in trials if trial.environment["METHOD"] in methods]
    for config in sorted({trial.config for trial in trials}):
        if not Path(config).is_file():
            raise FileNotFoundError(f"{grid_file}: config {config} does not exist")
    pending = [trial for trial in trials if not is_finished(trial.serialization_dir)]
    left_unfinished = [trial for trial in left_for_later if not is_finished(trial.serialization_dir)]
    report(f"{output_dir}: {total - len(pending) - len(left_unfinished)} of {total} runs finished"
           + (f" ({len(recorded)} in {record})" if recorded else "") + f", {len(pending)} to run"
           + (f", {len(left_unfinished)} of other methods left for a later run" if left_unfinished else ""))
    if dry_run:
        for trial in pending:
            report(f"  {trial.name}: {trial.config} -o {trial.overrides}")
        return
    save_grid(output_dir, grid)

    def record_the_finished_runs() -> None:
        if record:
            update_record(Path(record), output_dir, grid)

    with recording(record_the_finished_runs):
        if pending:
            train(output_dir, pending, total - len(left_unfinished), record_the_finished_runs, num_cpus, cpus_per_trial,
                  ray_address, include_packages)
    unfinished = [trial.name for trial in trials if not is_finished(trial.serialization_dir)]
    if unfinished:
        raise StoppedBeforeTheEnd(f"sweep stopped with {len(unfinished) + len(left_unfinished)} of {total} runs "
                                  f"unfinished; rerun to resume")
    if left_unfinished:
        report(f"every run of {', '.join(methods)} finished; {len(left_unfinished)} runs of other methods are "
               f"left: rerun without --methods to train them")
        return
    report(f"all {total} runs finished; next: allennlp sweep report -o {output_dir}" + (f" --record {record}" if record else ""))


def train(output_dir: Path, pending: List, total: int, after_each_trial: Callable[[], None], num_cpus: Optional[int],
          cpus_per_trial: int, ray_address: Optional[str], include_packages: Sequence[str]) -> None:
    import ray

    from attention_perturb.tune.search import run_trials, start_ray

    settings = {"base_config": None, "include_packages": list(include_packages), "overrides": "", "cwd": os.getcwd()}
    for trial in pending:
        trial.environment.update(thread_environment(cpus_per_trial))
    start_ray(ray_address, num_cpus, 0)
    try:
        run_trials(output_dir, pending, settings, {"cpu": cpus_per_trial}, total, after_each_trial)
    finally:
        ray.shutdown()


