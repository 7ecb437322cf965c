import pytest
from scipy.stats import kendalltau

from attention_perturb.interpret.consistency import InterpretationConsistency, top_k_intersection


def test_top_k_intersection_by_hand():
    original = [0.9, 0.1, 0.5, 0.3, 0.7, 0.0, 0.2]  # top 3 positions: 0, 4, 2
    adversarial = [0.8, 0.6, 0.1, 0.3, 0.7, 0.0, 0.2]  # top 3 positions: 0, 4, 1
    assert top_k_intersection(original, adversarial, k=3) == pytest.approx(2 / 3)
    assert top_k_intersection(original, adversarial, k=1) == 1.0
    # top 5: {0, 4, 2, 3, 6} and {0, 4, 1, 3, 6}
    assert top_k_intersection(original, adversarial, k=5) == pytest.approx(4 / 5)
    assert top_k_intersection(original, original[::-1], k=2) == 0.0
    # Shorter than k: the whole text is the top, so the intersection is complete.
    assert top_k_intersection([0.2, 0.8], [0.9, 0.1], k=5) == 1.0
    assert top_k_intersection([], [], k=5) is None
    # Ties go to the earlier position.
    assert top_k_intersection([1.0, 1.0, 0.0], [1.0, 0.0, 1.0], k=1) == 1.0
    with pytest.raises(ValueError, match="different lengths: 2 and 3"):
        top_k_intersection([0.1, 0.2], [0.1, 0.2, 0.3])


def test_consistency_means_over_pairs_and_skips_undefined_tau():
    consistency = InterpretationConsistency(k=2)
    first = consistency.pair("attention", [0.1, 0.5, 0.4], [0.5, 0.3, 0.4])
    second = consistency.pair("attention", [0.6, 0.4], [0.1, 0.9])
    skipped = consistency.pair("attention", [1.0], [1.0])  # one word: τ undefined
    assert first["attention_kendall_tau"] == pytest.approx(kendalltau([0.1, 0.5, 0.4], [0.5, 0.3, 0.4])[0])
    assert first["attention_top2_intersection"] == 0.5  # top 2: positions {1, 2} and {0, 2}
    assert second == {"attention_kendall_tau": -1.0, "attention_top2_intersection": 1.0}
    assert skipped == {"attention_kendall_tau": None, "attention_top2_intersection": 1.0}
    metrics = consistency.get_metric()
    assert metrics["attention_kendall_tau"] == pytest.approx((first["attention_kendall_tau"] - 1.0) / 2)
    assert metrics["attention_top2_intersection"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    assert metrics["attention_kendall_tau_skipped"] == 1.0


def test_top_k_intersection_is_top_5_by_default_and_breaks_ties_by_position():
    from tests.interpret.test_agreement import FIRST_OF_TIE, TIED

    second = [0.0] * len(TIED)
    for rank, position in enumerate(FIRST_OF_TIE):
        second[position] = 5.0 - rank
    assert top_k_intersection(TIED, second) == 1.0 and top_k_intersection(second, TIED) == 1.0
    second[FIRST_OF_TIE[-1]], second[0] = 0.0, 0.5  # position 0 enters the top 5 of second instead of 11
    assert top_k_intersection(TIED, second) == pytest.approx(4 / 5)


def test_consistency_means_and_skips_over_pairs_by_hand():
    consistency = InterpretationConsistency()  # k = 5, FLAT's Table 3
    assert consistency.pair("attention", [0.1, 0.2, 0.3], [0.1, 0.3, 0.2]) == {
        "attention_kendall_tau": pytest.approx(1 / 3), "attention_top5_intersection": 1.0}
    consistency.pair("attention", [0.5], [0.5])  # one word: τ undefined, skipped
    consistency.pair("attention", [0.2, 0.2], [0.1, 0.9])  # constant: skipped
    consistency.pair("attention", [0.1, 0.9], [0.9, 0.1])
    assert consistency.get_metric() == {
        "attention_kendall_tau": pytest.approx((1 / 3 - 1) / 2), "attention_top5_intersection": 1.0,
        "attention_kendall_tau_skipped": 2.0}


def test_top_k_intersection_ranks_in_double_precision():
    """Attributions that differ below float32's resolution keep their order: the larger of 1 and
    1 + 1e-12 is the second word (in float32 both are 1, and the tie would go to the first)."""
    assert top_k_intersection([1.0, 1.0 + 1e-12], [0.0, 1.0], k=1) == 1.0
