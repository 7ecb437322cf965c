"""allentune's search-space files on Ray Tune's sampling domains.

A search space is a JSON object whose keys are environment variables read by the base config
through `std.extVar`. Each value is either fixed (a string, number or boolean, passed as is) or a
sampled hyperparameter:

    {"EPSILON": {"sampling strategy": "uniform", "bounds": [0, 30]},
     "LR": {"sampling strategy": "loguniform", "bounds": [1e-4, 1e-2]},
     "SEED": {"sampling strategy": "integer", "bounds": [0, 100000]},
     "ENCODER": {"sampling strategy": "choice", "choices": ["lstm", "gru"]},
     "CUDA_DEVICE": -1}

As in allentune, `integer` samples from [lo, hi) and `loguniform` is uniform in log space.
"""
import json
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np
from ray import tune
from ray.tune.search.sample import Domain

from attention_perturb.errors import SettingError, UsageError

STRATEGIES = ("uniform", "loguniform", "integer", "choice")
Hyperparameter = Union[Domain, str]
SearchSpace = Dict[str, Hyperparameter]


class SearchSpaceError(UsageError):
    """A malformed search-space file; the message names the file and the offending key."""

    def __init__(self, path, key: str, problem: str) -> None:
        super().__init__(f"{path}: {key}: {problem}" if key else f"{path}: {problem}")


def _bounds(path, key: str, spec: Dict[str, Any]):
    bounds = spec.get("bounds")
    if (
        not isinstance(bounds, list)
        or len(bounds) != 2
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bounds)
    ):
        raise SearchSpaceError(path, key, f'"bounds" must be [lo, hi] numbers, got {bounds!r}')
    low, high = bounds
    if not low < high:
        raise SearchSpaceError(path, key, f'"bounds" need lo < hi, got {bounds!r}')
    return low, high


def parse_hyperparameter(path, key: str, spec: Any) -> Hyperparameter:
    """One search-space entry as a Ray Tune domain, or its fixed value as the string the
    environment variable will hold."""
    if isinstance(spec, bool):
        return str(spec).lower()
    if isinstance(spec, (str, int, float)):
        return str(spec)
    if not isinstance(spec, dict):
        raise SearchSpaceError(path, key, f"expected a fixed value or a sampling block, got {spec!r}")
    strategy = spec.get("sampling strategy")
    unknown = sorted(set(spec) - {"sampling strategy", "bounds", "choices"})
    if unknown:
        raise SearchSpaceError(path, key, f"unknown field(s) {unknown}")
    if strategy not in STRATEGIES:
        raise SearchSpaceError(path, key, f'"sampling strategy" must be one of {list(STRATEGIES)}, got {strategy!r}')
    if strategy == "choice":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise SearchSpaceError(path, key, f'"choices" must be a non-empty list, got {choices!r}')
        return tune.choice(choices)
    low, high = _bounds(path, key, spec)
    if strategy == "uniform":
        return tune.uniform(low, high)
    if strategy == "loguniform":
        if low <= 0:
            raise SearchSpaceError(path, key, f'"bounds" of a loguniform must be positive, got {[low, high]!r}')
        return tune.loguniform(low, high)
    if not all(float(b).is_integer() for b in (low, high)):
        raise SearchSpaceError(path, key, f'"bounds" of an integer must be integers, got {[low, high]!r}')
    return tune.randint(int(low), int(high))


def read_search_space(path: Union[str, Path]) -> SearchSpace:
    """Parses an allentune search-space file; raises `SearchSpaceError` naming the file and key."""
    if not Path(path).is_file():
        raise SettingError("search_space", f"{path} is not a file")
    try:
        raw = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise SearchSpaceError(path, "", f"line {error.lineno}: not valid JSON ({error.msg})") from error
    if not isinstance(raw, dict) or not raw:
        raise SearchSpaceError(path, "", "expected a JSON object mapping environment variables to values")
    for key in raw:
        if not key or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise SearchSpaceError(path, key, "not a valid environment-variable name")
    return {key: parse_hyperparameter(path, key, spec) for key, spec in raw.items()}


def sample_assignment(space: SearchSpace, seed: int, index: int) -> Dict[str, str]:
    """The environment of trial `index`: every sampled hyperparameter drawn from its own stream
    seeded by (seed, index), so a trial's values do not depend on how many trials are asked for
    and a resumed search draws exactly the same trials."""
    random_state = np.random.default_rng([seed, index])
    environment = {}
    for key, value in space.items():
        if isinstance(value, Domain):
            value = value.sample(random_state=random_state)
            if isinstance(value, (np.generic,)):
                value = value.item()
        environment[key] = value if isinstance(value, str) else json.dumps(value)
    return environment
