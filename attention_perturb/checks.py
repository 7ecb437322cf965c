"""Configuration checks shared by models, perturbations and commands."""
import math
import numbers

from allennlp.common.checks import ConfigurationError


def check_non_negative(name: str, value) -> None:
    """Raises a ConfigurationError naming `name` (a config key or CLI flag) unless `value` is a
    finite real number >= 0 (numpy's included); a bool is not a number here."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not (isinstance(value, numbers.Integral) or math.isfinite(value)) or value < 0):
        raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")
