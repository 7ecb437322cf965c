"""Expected validation performance (Dodge et al. 2019, "Show Your Work", Sec. 3).

Given N trial scores v_(1) <= ... <= v_(N), the expected best score of n random trials is
E[max_n] = Σ_i v_(i) · (F(i)^n − F(i−1)^n) with the empirical CDF F(i) = i/N (sampling with
replacement), or F(i)^n replaced by C(i, n)/C(N, n) without replacement. The band around it is the
standard deviation of that maximum, sqrt(Σ_i p_n(i) · (v_(i) − E[max_n])²), as allentune plots it.
"""
from typing import NamedTuple, Sequence

import numpy as np
from scipy.special import comb


class ExpectedPerformance(NamedTuple):
    """Per n = 1..N: `mean[n-1]` = E[max of n trials], `std[n-1]` its standard deviation."""

    mean: np.ndarray
    std: np.ndarray
    best: float


def max_probabilities(num_trials: int, with_replacement: bool = True) -> np.ndarray:
    """P[n-1, i-1] = probability that the i-th smallest of N scores is the maximum of n draws."""
    ranks = np.arange(num_trials + 1)
    draws = np.arange(1, num_trials + 1)[:, None]
    if with_replacement:
        cdf = (ranks[None, :] / num_trials) ** draws
    else:
        cdf = comb(ranks[None, :], draws) / comb(num_trials, draws)
    return np.diff(cdf, axis=1)


def expected_max_performance(scores: Sequence[float], with_replacement: bool = True,
                             lower_is_better: bool = False) -> ExpectedPerformance:
    """Expected best validation score after n = 1..N trials and its standard deviation: the
    maximum, or for a metric where `lower_is_better` (a loss) the minimum, with `best` the lowest."""
    sign = -1.0 if lower_is_better else 1.0
    values = np.sort(sign * np.asarray(scores, dtype=float))
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"expected finite scores, got {list(scores)!r}")
    probabilities = max_probabilities(values.size, with_replacement)
    mean = probabilities @ values
    variance = (probabilities * (values[None, :] - mean[:, None]) ** 2).sum(axis=1)
    return ExpectedPerformance(mean=sign * mean, std=np.sqrt(variance), best=float(sign * values[-1]))
