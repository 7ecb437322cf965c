"""The on-disk layout of one search and the bookkeeping that makes it resumable.

    <log-dir>/<experiment-name>/
      search.json            what the search was started with and the trials it draws
      run_000/environment.json   the trial's environment variables (its hyperparameters)
      run_000/train.log      output of its `allennlp train`
      run_000/trial/         its serialization dir (metrics.json, config.json, model.tar.gz)
      results.jsonl          written by `allennlp tune report`

allentune lays trials out as `run_*/trial/` too, so `report` reads either tool's experiments.
A trial is finished once its serialization dir holds `metrics.json` and `model.tar.gz`, which
`allennlp train` writes last; anything else in `run_*/trial/` is an interrupted trial to redo.
"""
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence

from attention_perturb.errors import SettingError
from attention_perturb.files import write_atomically
from attention_perturb.training.runs import Trial, is_finished

if TYPE_CHECKING:  # importing ray is slow; only the search itself needs it
    from attention_perturb.tune.search_space import SearchSpace

SEARCH_STRATEGY = "variant-generation"  # allentune's name for its random search, the one strategy
PLAN_FILE = "search.json"
ENVIRONMENT_FILE = "environment.json"
NODE_FILE = "node.json"  # the Ray node a trial last ran on: node_id, node_ip, hostname


class Experiment:
    """
    One search's folder. `settings` are what a resumed search must share with the first run (base
    config, raw search space, overrides, sampling seed); `plan(n)` gives trials 0..n-1, each
    drawn from the search space with its own seed so they are identical on every run.

    # Parameters

    directory : `Path`
        `<log-dir>/<experiment-name>`.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def plan_file(self) -> Path:
        return self.directory / PLAN_FILE

    def saved_settings(self) -> Optional[Dict[str, Any]]:
        if not self.plan_file.is_file():
            return None
        return json.loads(self.plan_file.read_text())["settings"]

    def check_settings(self, settings: Dict[str, Any], keys: Sequence[str]) -> None:
        """Refuses to resume an experiment started with different `keys` of its settings."""
        saved = self.saved_settings()
        if saved is None:
            return
        for key in keys:
            if saved.get(key) != settings.get(key):
                raise SettingError(
                    key, f"{settings.get(key)!r} differs from {saved.get(key)!r} that {self.plan_file} was "
                         f"started with; rerun with the same value or choose another experiment name"
                )

    def plan(self, space: "SearchSpace", seed: int, num_samples: int) -> List[Trial]:
        from attention_perturb.tune.search_space import sample_assignment

        # Names depend on the index alone (at least three digits), so a search resumed with more
        # samples keeps every finished trial's folder.
        return [
            Trial(f"run_{index:03d}", sample_assignment(space, seed, index), self.directory / f"run_{index:03d}")
            for index in range(num_samples)
        ]

    def save_plan(self, settings: Dict[str, Any], trials: List[Trial]) -> None:
        plan = {"settings": settings, "trials": [{"run": t.name, "environment": t.environment} for t in trials]}
        write_atomically(self.plan_file, json.dumps(plan, indent=2) + "\n")

    def trial_directories(self) -> List[Path]:
        """Every `run_*/trial/` serialization dir that holds a finished trial, in name order."""
        return [path for path in sorted(self.directory.glob("run_*/trial")) if is_finished(path)]


def trial_environment(trial_directory: Path) -> Dict[str, str]:
    """The environment variables a trial ran with (empty for allentune's own experiments)."""
    path = trial_directory.parent / ENVIRONMENT_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def trial_node(trial_directory: Path) -> Dict[str, str]:
    """The Ray node a trial ran on (empty for trials run before nodes were recorded)."""
    path = trial_directory.parent / NODE_FILE
    return json.loads(path.read_text()) if path.is_file() else {}
