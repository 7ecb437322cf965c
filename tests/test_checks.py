"""`check_non_negative`: a finite int or float >= 0 passes; anything else is a ConfigurationError
naming the key and the value as given."""
import math

import numpy as np
import pytest
from allennlp.common.checks import ConfigurationError

from attention_perturb.checks import check_non_negative


@pytest.mark.parametrize("value", [0, 0.0, -0.0, 5e-324, 0.5, 1, 3, 1e300, 10**400, np.float64(0.25), np.int64(3)])
def test_finite_non_negative_numbers_pass(value):
    assert check_non_negative("model.epsilon", value) is None


@pytest.mark.parametrize("value, shown", [
    (-1, "-1"),
    (-0.5, "-0.5"),
    (-5e-324, "-5e-324"),
    (-math.inf, "-inf"),
    (math.inf, "inf"),
    (math.nan, "nan"),
    ("1.5", "'1.5'"),
    ("", "''"),
    (None, "None"),
    ([1], "[1]"),
    (True, "True"),
    (False, "False"),
    (-10**400, str(-10**400)),
    (np.int64(-2), repr(np.int64(-2))),
])
def test_anything_else_is_named_with_its_key_and_value(value, shown):
    with pytest.raises(ConfigurationError) as raised:
        check_non_negative("model.perturbation.epsilon", value)
    assert str(raised.value) == f"model.perturbation.epsilon must be a finite number >= 0, got {shown}"


def test_the_name_is_a_flag_or_a_key_as_given():
    with pytest.raises(ConfigurationError) as raised:
        check_non_negative("--noise-std", -0.01)
    assert raised.value.message == "--noise-std must be a finite number >= 0, got -0.01"
