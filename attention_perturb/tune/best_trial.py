"""ε per method for Table 2 from finished searches: the ε of each search's best validation trial
(the paper reports the model with the best validation score)."""
import json
from pathlib import Path
from typing import Dict, Optional, Sequence

from attention_perturb.errors import SettingError
from attention_perturb.experiments.table2 import PAPER, EpsilonChoice
from attention_perturb.tune.experiment import Experiment


def best_trial_epsilon(experiment_directory: Path, metric: str) -> EpsilonChoice:
    """ε of the trial with the highest `best_validation_<metric>` (the first such trial on ties), read
    from the config it trained with, as the paper reports the model with the best validation score."""
    trials = Experiment(experiment_directory).trial_directories()
    if not trials:
        raise SettingError("search_log_dir", f"{experiment_directory} has no finished trials")
    key = f"best_validation_{metric}"

    def score(trial: Path) -> float:
        metrics = json.loads((trial / "metrics.json").read_text())
        if key not in metrics:
            raise SettingError("search_log_dir", f"{trial / 'metrics.json'} has no {key}")
        return metrics[key]

    best = max(trials, key=score)
    config = json.loads((best / "config.json").read_text())
    epsilon = config["model"]["perturbation"].get("epsilon")
    if epsilon is None:
        raise SettingError("search_log_dir", f"{best / 'config.json'}: model.perturbation has no epsilon")
    return EpsilonChoice(float(epsilon), f"best of {len(trials)} trials in {experiment_directory}: {best.parent.name}")


def choose_epsilons(
    dataset: str, methods: Sequence[str], given: Dict[str, float], search_log_dir: Optional[Path]
) -> Dict[str, EpsilonChoice]:
    """Per method: `--epsilon method=value`, else the best trial of `<search-log-dir>/<dataset>_<method>`,
    else the config's default. Vanilla has no ε."""
    metric = PAPER["datasets"][dataset]["metric"]
    choices = {}
    for method in methods:
        experiment = search_log_dir / f"{dataset}_{method}" if search_log_dir else None
        if method == "vanilla":
            choices[method] = EpsilonChoice(None, "no perturbation")
        elif method in given:
            choices[method] = EpsilonChoice(given[method], "--epsilon")
        elif experiment is not None and experiment.is_dir():
            choices[method] = best_trial_epsilon(experiment, metric)
        else:
            choices[method] = EpsilonChoice(None, "config default")
    return choices


