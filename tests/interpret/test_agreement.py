import math

import pytest
import torch
from scipy import stats

from attention_perturb.interpret.agreement import (
    AttentionAgreement, kendall_per_instance, kendall_tau, pearson_per_instance, top_k_overlap_per_instance,
)


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


# Values in {0, 1, 2} over 40 positions: the five largest are tied, and only a stable sort picks the
# first five positions of the tie (2, 4, 8, 10, 11), as "ties broken by position" promises.
TIED = [1.0, 1.0, 2.0, 0.0, 2.0, 0.0, 1.0, 1.0, 2.0, 0.0, 2.0, 2.0, 2.0, 0.0, 2.0, 2.0, 0.0, 1.0, 1.0, 0.0,
        1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 0.0, 1.0, 0.0, 1.0, 2.0, 1.0, 1.0, 2.0, 1.0, 2.0, 0.0, 1.0]
FIRST_OF_TIE = [2, 4, 8, 10, 11]


def test_pearson_tolerances_are_per_instance_not_per_batch():
    """A constant instance beside a varied one is still NaN; an instance varying at 1e-4 beside one
    at 1e3 is still a correlation (a batch-wide scale would call it constant)."""
    mask = torch.ones(2, 3, dtype=torch.bool)
    constant_and_varied = torch.tensor([[0.1, 0.1, 0.1], [1.0, 5.0, 2.0]], dtype=torch.float64)
    centred = constant_and_varied[0] - constant_and_varied[0].mean()
    assert centred.abs().max() > 0  # the mean's rounding leaves noise: only the tolerance calls it constant
    other = torch.tensor([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]], dtype=torch.float64)
    expected = stats.pearsonr([1.0, 5.0, 2.0], [3.0, 1.0, 2.0]).statistic
    for result in (pearson_per_instance(constant_and_varied, other, mask),
                   pearson_per_instance(other, constant_and_varied, mask)):
        assert math.isnan(result[0]) and result[1].item() == pytest.approx(expected)
    scales = torch.tensor([[1e3, 3e3, 2e3], [1e-4, 3e-4, 2e-4]], dtype=torch.float64)
    ranks = torch.tensor([[1.0, 3.0, 2.0], [1.0, 3.0, 2.0]], dtype=torch.float64)
    for result in (pearson_per_instance(scales, ranks, mask), pearson_per_instance(ranks, scales, mask)):
        torch.testing.assert_close(result, torch.ones(2, dtype=torch.float64))


def test_pearson_of_unit_norm_centred_vectors():
    """Both centred norms exactly 1 (scale = 1): a plain correlation, 1 and 0."""
    first = torch.tensor([[0.5, 0.5, -0.5, -0.5], [0.5, 0.5, -0.5, -0.5]], dtype=torch.float64)
    second = torch.tensor([[0.5, 0.5, -0.5, -0.5], [0.5, -0.5, 0.5, -0.5]], dtype=torch.float64)
    result = pearson_per_instance(first, second, torch.ones(2, 4, dtype=torch.bool))
    assert result.tolist() == [1.0, 0.0]


def test_top_k_overlap_by_hand():
    first = torch.tensor([[0.9, 0.1, 0.5, 0.3, 0.7, 0.0], [0.2, 0.4, 0.1, 0.3, 9.0, 9.0]])
    second = torch.tensor([[0.8, 0.6, 0.1, 0.2, 0.9, 0.3], [0.1, 0.2, 0.4, 0.3, -9.0, -9.0]])
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    # Instance 0: top 2 of first {0, 4}, of second {4, 0}: 2/2; top 3: {0, 4, 2} and {4, 0, 1}: 2/3.
    # Instance 1 (4 tokens, padding ignored): top 2 {1, 3} and {2, 3}: 1/2; top 3 {1, 3, 0} and {2, 3, 1}: 2/3.
    assert top_k_overlap_per_instance(first, second, mask, 2).tolist() == [1.0, 0.5]
    torch.testing.assert_close(top_k_overlap_per_instance(first, second, mask, 3), torch.tensor([2 / 3, 2 / 3]))
    # At most k tokens: both sets are every token, so the overlap says nothing.
    assert math.isnan(top_k_overlap_per_instance(first, second, mask, 4)[1])
    in_float64 = top_k_overlap_per_instance(first.double(), second.double(), mask, 3)
    assert in_float64.dtype == torch.float64 and in_float64.tolist() == [2 / 3, 2 / 3]


def test_top_k_overlap_breaks_ties_by_position():
    first = torch.tensor([TIED])
    second = torch.zeros(1, len(TIED))
    second[0, FIRST_OF_TIE] = torch.tensor([5.0, 4.0, 3.0, 2.0, 1.0])
    assert top_k_overlap_per_instance(first, second, torch.ones(1, len(TIED), dtype=torch.bool), 5).tolist() == [1.0]


def test_kendall_of_two_tokens_is_plus_or_minus_one():
    first = torch.tensor([[0.2, 0.8], [0.2, 0.8]])
    second = torch.tensor([[0.1, 0.9], [0.9, 0.1]])
    assert kendall_per_instance(first, second, torch.ones(2, 2, dtype=torch.bool)).tolist() == [1.0, -1.0]


def test_agreement_metric_averages_over_batches_and_counts_skips_by_hand():
    metric = AttentionAgreement()
    metric(torch.tensor([0.5, float("nan"), 0.1]))
    metric(torch.tensor([0.3, float("nan")]))
    metric(torch.tensor([float("nan")]), name="kendall_leave_one_out")  # every instance undefined
    metric(torch.tensor([0.4, 0.2]), name="kendall_gradient_norm")
    expected = {"pearson": pytest.approx(0.3), "pearson_skipped": 2.0, "kendall_leave_one_out": 0.0,
                "kendall_gradient_norm": pytest.approx(0.3)}
    assert metric.get_metric() == expected
    assert metric.get_metric() == expected  # reading does not reset ...
    metric.get_metric(reset=True)
    assert metric.get_metric() == {}  # ... unless asked to


def test_an_unknown_short_text_rule_is_named():
    values, mask = torch.ones(1, 3), torch.ones(1, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="short_texts must be 'undefined' or 'capped', got 'truncated'"):
        top_k_overlap_per_instance(values, values, mask, 2, short_texts="truncated")
