"""Estimates over seeds: mean with a 95 % confidence interval, and paired differences at equal seeds."""
import math
import statistics
from typing import Dict, NamedTuple, Optional, Sequence


def t_quantile_975(degrees_of_freedom: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, degrees_of_freedom))


class Estimate(NamedTuple):
    mean: float
    half_width: Optional[float]  # 95 % CI half-width (Student t); None for one value
    count: int

    def format(self, digits: int) -> str:
        if self.half_width is None:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"

    @property
    def excludes_zero(self) -> bool:
        return self.half_width is not None and abs(self.mean) > self.half_width


def mean_ci(values: Sequence[float]) -> Estimate:
    """Mean and 95 % confidence interval of the mean: t_{0.975, n-1}·s/√n."""
    values = [value for value in values if value is not None and not math.isnan(value)]
    if not values:
        return Estimate(float("nan"), None, 0)
    if len(values) == 1:
        return Estimate(values[0], None, 1)
    return Estimate(statistics.mean(values),
                    t_quantile_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values)), len(values))


def paired_difference(values: Dict[int, float], baseline: Dict[int, float]) -> Estimate:
    """Mean ± CI of value − baseline over the seeds both have."""
    return mean_ci([values[seed] - baseline[seed] for seed in sorted(set(values) & set(baseline))])
