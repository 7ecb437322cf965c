"""Runs the unfinished trials of an `Experiment` as Ray Tune trials, each a real `allennlp train`."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import ray
from ray import tune

from attention_perturb.errors import SettingError, StoppedBeforeTheEnd
from attention_perturb.files import write_atomically
from attention_perturb.training.runs import Trial, is_finished, resume_flags
from attention_perturb.tune.cluster import connect
from attention_perturb.tune.experiment import ENVIRONMENT_FILE, NODE_FILE, SEARCH_STRATEGY, trial_node

# Keep a local Ray small: no dashboard, a minimal object store (trials exchange only metrics).
OBJECT_STORE_BYTES = 100 * 1024 * 1024


class TrialFailed(RuntimeError):
    pass


# Runs `python -m allennlp <args>` after asking Linux to SIGTERM it when its parent, the trial's Ray
# worker, dies: a stopped or killed search then leaves no orphaned training to race its rerun.
# (The death signal survives exec; setting it in preexec_fn instead is unsafe in Ray's threaded workers.)
ALLENNLP_DYING_WITH_PARENT = (
    "import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "  # 1 = PR_SET_PDEATHSIG
    "os.execv(sys.executable, [sys.executable, '-m', 'allennlp'] + sys.argv[1:])"
)


def train_command(base_config: str, serialization_dir: Path, include_packages: Sequence[str], overrides: str) -> List[str]:
    command = [sys.executable, "-c", ALLENNLP_DYING_WITH_PARENT, "train", base_config, "-s", str(serialization_dir)]
    for package in include_packages:
        command += ["--include-package", package]
    if overrides:
        command += ["-o", overrides]
    return command


def run_trial(config: Dict[str, Any]) -> None:
    """Ray Tune trainable: `train_trial` on the Ray node this trial was given, its metrics reported to Tune."""
    node = {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address(),
            "hostname": socket.gethostname()}
    tune.report(train_trial(config["trial"], config["settings"], node))


def train_trial(trial: Dict[str, Any], settings: Dict[str, Any], node: Dict[str, str]) -> Dict[str, float]:
    """One `allennlp train` of `trial` (its config and overrides, else the `settings`' base config and
    overrides) with the trial's environment variables, started from the directory the search was
    started in (configs name data paths relative to it); an interrupted run continues. Writes `node`,
    the Ray node it runs on, to `node.json` and returns the numeric entries of the run's metrics."""
    directory = Path(trial["directory"])
    for needed in (directory, Path(settings["cwd"])):
        if not needed.is_dir():  # a cluster node that does not share the driver's file system
            raise TrialFailed(f"{trial['run']}: {needed} does not exist on node {node['node_ip']} ({node['hostname']}); "
                              "on a cluster, the working directory and --log-dir must be on a file system every "
                              "node mounts at the same path")
    write_atomically(directory / NODE_FILE, json.dumps(node, indent=2) + "\n")
    serialization_dir = directory / "trial"
    resume = resume_flags(serialization_dir)  # an interrupted run of this trial continues from its checkpoint
    command = train_command(trial.get("config") or settings["base_config"], serialization_dir,
                            settings["include_packages"], trial.get("overrides") or settings["overrides"]) + resume
    with open(directory / "train.log", "a" if resume else "w") as log:
        completed = subprocess.run(
            command, cwd=settings["cwd"], env={**os.environ, **trial["environment"]}, stdout=log,
            stderr=subprocess.STDOUT,
        )
    if completed.returncode != 0 or not is_finished(serialization_dir):
        raise TrialFailed(f"{trial['run']}: allennlp train exited with {completed.returncode}; see {directory / 'train.log'}")
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    return {key: value for key, value in metrics.items() if isinstance(value, (int, float))}


class TrialProgress(tune.Callback):
    """Prints one line per finished or failed trial (with the node it ran on)."""

    def __init__(self, total: int, already_finished: int) -> None:
        self._total = total
        self._done = already_finished
        self._started = time.time()

    def on_trial_complete(self, iteration: int, trials, trial, **info) -> None:
        self._done += 1
        run = trial.config["trial"]
        best = ", ".join(
            f"{key}={value:.4f}" for key, value in sorted(trial.last_result.items())
            if key.startswith("best_validation_") and "loss" not in key and isinstance(value, float)
        )
        hyperparameters = " ".join(f"{key}={value}" for key, value in run["environment"].items())
        node = trial_node(Path(run["directory"]) / "trial")
        where = f" on node {node['node_ip']} ({node['node_id'][:8]})" if node else ""
        print(f"[{self._done}/{self._total}] {run['run']} finished after {time.time() - self._started:.0f} s{where}: "
              f"{hyperparameters} -> {best}", flush=True)

    def on_trial_error(self, iteration: int, trials, trial, **info) -> None:
        run = trial.config["trial"]
        print(f"{run['run']} FAILED; see {Path(run['directory']) / 'train.log'}", flush=True)


class AfterEachTrial(tune.Callback):
    """Calls `action` each time a trial finishes, e.g. to record it before a later trial ends (a
    sweep killed by SIGKILL or a sitting's end runs no clean-up)."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action

    def on_trial_complete(self, iteration: int, trials, trial, **info) -> None:
        self._action()


def start_ray(address: Optional[str], num_cpus: int, num_gpus: int) -> None:
    """A local Ray of `num_cpus` and `num_gpus`, or the running cluster at `address`."""
    if address:
        connect(address)
    else:
        # "local": without it Ray joins whatever cluster RAY_ADDRESS or the last `ray start` on this
        # machine names, and refuses num_cpus there.
        ray.init(address="local", num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
                 object_store_memory=OBJECT_STORE_BYTES, log_to_driver=False)


def run_trials(
    experiment_directory: Path,
    trials: List[Trial],
    settings: Dict[str, Any],
    resources: Dict[str, float],
    total: int,
    after_each_trial: Optional[Callable[[], None]] = None,
) -> None:
    """Runs `trials` concurrently as far as `resources` per trial allow on the running Ray;
    raises `TrialFailed` naming every failed trial and its log once all have ended.
    `after_each_trial` is called in this process each time a trial finishes."""
    for trial in trials:
        write_atomically(trial.directory / ENVIRONMENT_FILE, json.dumps(trial.environment, indent=2) + "\n")
    param_space = {
        "trial": tune.grid_search(
            [{"run": t.name, "environment": t.environment, "directory": str(t.directory), "config": t.config,
              "overrides": t.overrides} for t in trials]
        ),
        "settings": settings,
    }
    tuner = tune.Tuner(
        tune.with_resources(run_trial, resources),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            num_samples=1,
            trial_name_creator=lambda trial: trial.config["trial"]["run"],
            trial_dirname_creator=lambda trial: trial.config["trial"]["run"],
        ),
        run_config=tune.RunConfig(
            name="ray",
            storage_path=str(experiment_directory.resolve()),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
            callbacks=[TrialProgress(total, total - len(trials))]
            + ([AfterEachTrial(after_each_trial)] if after_each_trial else []),
        ),
    )
    results = tuner.fit()
    failed = [
        f"{result.config['trial']['run']}: see {Path(result.config['trial']['directory']) / 'train.log'}"
        for result in results if result.error is not None
    ]
    if failed:
        raise TrialFailed(f"{len(failed)} of {len(trials)} trials failed:\n" + "\n".join(failed))


# What a resumed search must share with the one that started its folder.
RESUME_SETTINGS = ("base_config", "search_space", "overrides", "random_seed")


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count()


def trial_overrides(overrides: str, num_gpus: int) -> str:
    """The JSON overrides every trial trains with: `overrides`, and the CPU where no GPU is lent."""
    try:
        parsed = json.loads(overrides) if overrides else {}
    except json.JSONDecodeError as error:
        raise SettingError("overrides", f"not valid JSON ({error})") from error
    overrides = parsed
    if num_gpus == 0:  # as allentune: without GPUs every trial trains on the CPU
        overrides["trainer.cuda_device"] = -1
    return json.dumps(overrides) if overrides else ""


def search(experiment_name: str, base_config: str, search_space: str, log_dir: str, num_samples: int = 1,
           random_seed: int = 0, overrides: str = "", num_cpus: Optional[int] = None, num_gpus: Optional[int] = None,
           cpus_per_trial: int = 1, gpus_per_trial: Optional[int] = None, ray_address: Optional[str] = None,
           search_strategy: str = SEARCH_STRATEGY, include_packages: Sequence[str] = (),
           report: Callable[[str], None] = print) -> None:
    """allentune's random search on Ray Tune: `num_samples` trials drawn from `search_space` (each a
    real `allennlp train` of `base_config`) in `<log_dir>/<experiment_name>`; a rerun with the same
    settings resumes (finished trials kept, interrupted ones continued), other settings are refused."""
    from attention_perturb.tune.experiment import Experiment
    from attention_perturb.tune.search_space import read_search_space

    if search_strategy != SEARCH_STRATEGY:
        raise SettingError("search_strategy", f"only {SEARCH_STRATEGY} (random search) is supported, got {search_strategy!r}")
    if num_samples < 1:
        raise SettingError("num_samples", f"must be at least 1, got {num_samples}")
    if not Path(base_config).is_file():
        raise SettingError("base_config", f"{base_config} does not exist")
    space = read_search_space(search_space)
    num_gpus = visible_gpus() if num_gpus is None else num_gpus
    # Checked before the plan is saved: a plan saved with bad overrides would refuse the corrected rerun.
    overrides_of_trials = trial_overrides(overrides, num_gpus)
    gpus_per_trial = (1 if num_gpus else 0) if gpus_per_trial is None else gpus_per_trial

    experiment = Experiment(Path(log_dir).resolve() / experiment_name)
    settings = {
        "base_config": os.path.abspath(base_config),
        "search_space": json.loads(Path(search_space).read_text()),
        "overrides": overrides,
        "random_seed": random_seed,
    }
    experiment.check_settings(settings, RESUME_SETTINGS)
    trials = experiment.plan(space, random_seed, num_samples)
    experiment.save_plan(settings, trials)
    pending = [trial for trial in trials if not is_finished(trial.serialization_dir)]
    report(f"{experiment.directory}: {len(trials) - len(pending)} of {len(trials)} trials finished, running {len(pending)}")
    if pending:
        import ray

        trial_settings = {
            "base_config": settings["base_config"],
            "include_packages": list(include_packages),
            "overrides": overrides_of_trials,
            "cwd": os.getcwd(),
        }
        start_ray(ray_address, num_cpus, num_gpus)
        try:
            run_trials(experiment.directory, pending, trial_settings, {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
                       len(trials))
        finally:
            ray.shutdown()
    unfinished = [trial.name for trial in trials if not is_finished(trial.serialization_dir)]
    if unfinished:  # Ray Tune returns normally when stopped by Ctrl-C
        raise StoppedBeforeTheEnd(f"search stopped with {len(unfinished)} of {len(trials)} trials unfinished "
                                  f"({', '.join(unfinished)}); rerun the same command to resume")
    report(f"all {len(trials)} trials finished; next: allennlp tune report --log-dir {experiment.directory}")
