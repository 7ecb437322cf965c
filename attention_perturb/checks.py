"""Configuration checks shared by models, perturbations and commands."""
import math

from allennlp.common.checks import ConfigurationError


def check_non_negative(name: str, value) -> None:
    """Raises a ConfigurationError naming `name` (a config key or CLI flag) unless `value` is a
    finite number >= 0."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")
