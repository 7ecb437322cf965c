import itertools
import math

import numpy as np
import pytest

from attention_perturb.tune.expected_performance import expected_max_performance


def test_with_replacement_against_hand_computation():
    # Sorted scores 0.5, 0.7, 0.9 (given unsorted). P(max of n draws is the i-th) = (i/3)^n - ((i-1)/3)^n:
    #   n=1: 1/3 each          -> E = 0.7,        Var = (0.04 + 0 + 0.04) / 3
    #   n=2: 1/9, 3/9, 5/9     -> E = 7.1/9,      Var = Σ p (v - E)^2
    #   n=3: 1/27, 7/27, 19/27 -> E = 22.5/27
    result = expected_max_performance([0.9, 0.5, 0.7])
    assert result.mean == pytest.approx([0.7, 7.1 / 9, 22.5 / 27])
    e2 = 7.1 / 9
    variance2 = (1 * (0.5 - e2) ** 2 + 3 * (0.7 - e2) ** 2 + 5 * (0.9 - e2) ** 2) / 9
    assert result.std == pytest.approx([math.sqrt(0.08 / 3), math.sqrt(variance2), result.std[2]])
    e3 = 22.5 / 27
    assert result.std[2] == pytest.approx(math.sqrt((0.5 - e3) ** 2 / 27 + 7 * (0.7 - e3) ** 2 / 27 + 19 * (0.9 - e3) ** 2 / 27))
    assert result.best == 0.9


def test_without_replacement_against_hand_computation():
    # P(max of n distinct draws is the i-th) = [C(i,n) - C(i-1,n)] / C(3,n):
    #   n=2: 0, 1/3, 2/3 -> E = (0.7 + 1.8) / 3;  n=3: the maximum itself with no spread.
    result = expected_max_performance([0.5, 0.7, 0.9], with_replacement=False)
    assert result.mean == pytest.approx([0.7, 2.5 / 3, 0.9])
    assert result.std[2] == pytest.approx(0.0, abs=1e-12)


def test_with_replacement_matches_enumerating_every_draw():
    scores = [0.61, 0.64, 0.58, 0.7]
    result = expected_max_performance(scores)
    for n in (1, 2, 3):
        maxima = [max(draw) for draw in itertools.product(scores, repeat=n)]
        assert result.mean[n - 1] == pytest.approx(np.mean(maxima))
        assert result.std[n - 1] == pytest.approx(np.std(maxima))


def test_rejects_empty_or_nan_scores():
    with pytest.raises(ValueError):
        expected_max_performance([])
    with pytest.raises(ValueError):
        expected_max_performance([0.5, float("nan")])


def test_a_loss_expects_its_lowest_value_by_hand():
    # Losses 0.5, 0.7, 0.9: the least of n draws is 0.5 with P = 1 − (2/3)^n, 0.7 with (2/3)^n − (1/3)^n, 0.9 with (1/3)^n.
    result = expected_max_performance([0.9, 0.5, 0.7], lower_is_better=True)
    assert result.mean == pytest.approx([0.7, (5 * 0.5 + 3 * 0.7 + 1 * 0.9) / 9, (19 * 0.5 + 7 * 0.7 + 0.9) / 27])
    assert result.std[0] == pytest.approx(math.sqrt(0.08 / 3)) and result.best == 0.5
    from attention_perturb.tune.expected_performance import max_probabilities

    assert max_probabilities(2).ravel().tolist() == pytest.approx([0.5, 0.5, 0.25, 0.75])  # with replacement by default
