import math

import pytest
import torch
from scipy import stats

from attention_perturb.interpret.agreement import AttentionAgreement, kendall_tau, pearson_per_instance


def test_pearson_matches_scipy_per_instance_over_valid_tokens():
    first = torch.tensor([[0.1, 0.5, 0.4, 9.0], [0.3, 0.3, 0.2, 0.2]], dtype=torch.float64)
    second = torch.tensor([[0.2, 0.3, 0.5, -7.0], [0.9, 0.1, 0.4, 0.3]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    result = pearson_per_instance(first, second, mask)
    assert result[0].item() == pytest.approx(stats.pearsonr([0.1, 0.5, 0.4], [0.2, 0.3, 0.5]).statistic)
    assert result[1].item() == pytest.approx(stats.pearsonr(first[1].numpy(), second[1].numpy()).statistic)


def test_degenerate_instances_are_nan_and_skipped_by_the_metric():
    first = torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.2, 0.8, 0.0], [0.3, 0.7, 0.0]])
    second = torch.tensor([[0.7, 0.0, 0.0], [0.1, 0.9, 0.0], [0.4, 0.4, 0.0], [0.2, 0.9, 0.0]])
    mask = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]], dtype=torch.bool)
    result = pearson_per_instance(first, second, mask)
    assert math.isnan(result[0]) and math.isnan(result[1]) and math.isnan(result[2])  # length 1, constants
    assert result[3].item() == pytest.approx(1.0)
    metric = AttentionAgreement()
    metric(result)
    assert metric.get_metric(reset=True) == {"pearson": pytest.approx(1.0), "pearson_skipped": 3.0}
    assert not metric.measured


@pytest.mark.parametrize(
    "first, second",
    [
        ([0.1, 0.4, 0.4, 0.3], [0.2, 0.1, 0.5, 0.6]),  # a tie in the first
        ([0.3, 0.3, 0.1, 0.9, 0.9], [0.5, 0.5, 0.5, 0.1, 0.2]),  # ties in both, some shared
        ([0.9, 0.1, 0.5, 0.7, 0.2, 0.4], [0.8, 0.3, 0.1, 0.6, 0.2, 0.9]),
    ],
)
def test_kendall_tau_matches_scipy(first, second):
    assert kendall_tau(first, second) == pytest.approx(stats.kendalltau(first, second).statistic)


def test_kendall_tau_is_none_when_undefined():
    assert kendall_tau([0.3], [0.2]) is None
    assert kendall_tau([0.5, 0.5], [0.1, 0.9]) is None


def test_float_noise_around_a_constant_counts_as_constant():
    # A softmax over equal scores is constant up to rounding: its "correlation" is noise, not signal.
    constant_with_noise = torch.tensor([[0.25 + 1e-12, 0.25 - 2e-12, 0.25, 0.25 + 3e-12]], dtype=torch.float64)
    varied = torch.tensor([[0.1, 0.2, 0.3, 0.4]], dtype=torch.float64)
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert math.isnan(pearson_per_instance(constant_with_noise, varied, mask)[0])
    assert math.isnan(pearson_per_instance(varied, constant_with_noise, mask)[0])
    # The tolerance is relative to the values: a vector that varies at a small scale is not constant.
    small = torch.tensor([[1e-9, 4e-9, 2e-9, 3e-9]], dtype=torch.float64)
    expected = stats.pearsonr(small[0].numpy(), varied[0].numpy()).statistic
    assert pearson_per_instance(small, varied, mask)[0].item() == pytest.approx(expected)
    assert pearson_per_instance(varied, small, mask)[0].item() == pytest.approx(expected)


def test_kendall_tau_is_undefined_for_a_constant_vector_on_either_side():
    assert kendall_tau([0.1, 0.2, 0.3], [0.5, 0.5, 0.5]) is None
    assert kendall_tau([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None
    assert kendall_tau([0.3], [0.2]) is None
