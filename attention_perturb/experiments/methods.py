"""The one registry of the training methods, read from `training_configs/lib/methods.libsonnet`: the
file the task configs take each method's perturbation from, so that a method is added in one place
(its registered class and its entry there) and every study finds it: Table 2, the robustness table,
the step-time benchmark, the sweeps (docs/adding_a_method.md)."""
import json
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

from attention_perturb.errors import SettingError

REGISTRY = Path("training_configs") / "lib" / "methods.libsonnet"
FAMILIES = ("baseline", "word", "attention", "neighbour")


class Method(NamedTuple):
    name: str
    title: str
    family: str  # one of FAMILIES
    perturbation: Optional[dict]  # the model's `perturbation` block; None for a neighbouring method


def methods(registry: Path = REGISTRY) -> Dict[str, Method]:
    """Every registered method by name, in the registry's order (the order of every table's rows).
    The registry is read relative to the working directory, as the configs are."""
    import _jsonnet

    if not Path(registry).is_file():
        raise FileNotFoundError(f"{registry}: no methods registry here (run from the repository root)")
    found = {}
    for position, entry in enumerate(json.loads(_jsonnet.evaluate_file(str(registry)))["registry"]):
        if entry.get("family") not in FAMILIES or not {"name", "title"} <= set(entry):
            raise SettingError(f"registry[{position}]", f"{registry}: needs a 'name', a 'title' and a 'family' "
                                                        f"among {FAMILIES}, got {entry}")
        found[entry["name"]] = Method(entry["name"], entry["title"], entry["family"], entry.get("perturbation"))
    return found


def method_names(family: Optional[str] = None) -> List[str]:
    return [name for name, method in methods().items() if family is None or method.family == family]


def trained_by_perturbation() -> List[str]:
    """The methods of the paper's Table 2 kind: the task model with a perturbation (the six, and any
    method added the same way)."""
    return [name for name, method in methods().items() if method.perturbation is not None]


def title(name: str) -> str:
    method = methods().get(name)
    return method.title if method else name


def config_for(pattern: str, dataset: str, method: str) -> str:
    """The training config of `method` on `dataset`: `pattern` filled in where that file exists,
    else the dataset's config for any method (`training_configs/<dataset>.jsonnet`, which reads
    METHOD), so a newly registered method trains without a config file of its own."""
    config = pattern.format(dataset=dataset, method=method)
    generic = Path(pattern).parent / f"{dataset}.jsonnet"
    return config if Path(config).is_file() or not generic.is_file() else str(generic)
