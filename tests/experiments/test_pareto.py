"""The robustness picture: its points and intervals by hand, its frontier by hand, and labels that
overlap nothing even where methods sit on the same point."""
import math

import pytest

from attention_perturb.experiments.pareto import MARKER_HALF_SIZE, pareto_figure, pareto_front, seed_interval

T_975_2 = 4.302652729911275  # Student t, 2 degrees of freedom


def test_seed_intervals_by_hand():
    linear = seed_interval([0.80, 0.82, 0.84])
    assert linear.centre == pytest.approx(0.82)
    assert linear.high - linear.centre == pytest.approx(T_975_2 * 0.02 / math.sqrt(3))
    # Log axis: log10 values -2, -1, 0 -> geometric mean 0.1, s = 1 decade, CI ×/÷ 10^(t/√3).
    log = seed_interval([0.01, 0.1, 1.0], log=True)
    assert log.centre == pytest.approx(0.1)
    assert log.high == pytest.approx(0.1 * 10 ** (T_975_2 / math.sqrt(3)))
    assert log.low == pytest.approx(0.1 / 10 ** (T_975_2 / math.sqrt(3)))
    assert seed_interval([0.5]) == (0.5, 0.5, 0.5, 1)
    assert seed_interval([0.0, 0.1], log=True) is None and seed_interval([]) is None


def test_the_frontier_by_hand_for_both_directions():
    points = {"a": (0.80, 0.40), "b": (0.83, 0.39), "c": (0.82, 0.50), "d": (0.81, 0.45), "e": (0.82, 0.50)}
    # Higher is better on y: c and e tie (neither beats the other), b has the best x.
    assert pareto_front(points, higher_y_is_better=True) == ["c", "e", "b"]
    # Lower is better on y (a stability measure): b has the best x and the lowest y, and beats every other.
    assert pareto_front(points, higher_y_is_better=False) == ["b"]
    assert pareto_front({"x": (0.8, 0.2), "y": (0.81, 0.1)}, higher_y_is_better=False) == ["y"]
    assert pareto_front({"x": (0.8, 0.05), "y": (0.81, 0.1)}, higher_y_is_better=False) == ["x", "y"]


def crowded_rows():
    """Twelve methods of three seeds: two pairs on identical points (as SEAT by Eq. 6 sits on
    vanilla), a tight cluster of five, long names, and one method far away."""
    centres = {
        "vanilla": (0.829, 0.390, 0.055, 0.30), "seat": (0.829, 0.390, 0.055, 0.30),
        "attention_rp": (0.827, 0.384, 0.038, 0.29), "attention_at": (0.824, 0.379, 0.067, 0.32),
        "attention_iat": (0.822, 0.386, 0.037, 0.28), "word_at": (0.839, 0.411, 1.6e-4, 0.016),
        "word_iat": (0.815, 0.425, 5.4e-4, 0.022), "seat_coded_l2_1000": (0.835, 0.408, 1.7e-9, 0.117),
        "seat_coded_l2_1000_test_selected": (0.835, 0.408, 1.7e-9, 0.117), "flat": (0.821, 0.681, 0.006, 0.205),
        "flat_adv": (0.818, 0.60, 0.01, 0.25), "bat_contrastive_weight_1": (0.816, 0.506, 0.014, 0.278),
    }
    rows = {}
    for method, (score, accuracy, jsd, tvd) in centres.items():
        rows[method] = {seed: {"test_score": score + 0.004 * (seed - 2), "after_attack_accuracy": accuracy + 0.01 * (seed - 2),
                               "pgd_jsd": jsd * 2.0 ** (seed - 2), "pgd_tvd": tvd * (1 + 0.1 * (seed - 2)),
                               "pearson": 0.7, "attention_entropy": 1.0 if "l2_1000" in method else 0.8}
                        for seed in (1, 2, 3)}
    return rows


def overlap(a, b):
    width, height = min(a[2], b[2]) - max(a[0], b[0]), min(a[3], b[3]) - max(a[1], b[1])
    return width > 0 and height > 0


def test_labels_overlap_no_label_no_point_and_no_edge(tmp_path):
    rows = crowded_rows()
    layouts = pareto_figure(rows, str(tmp_path / "pareto.png"))
    assert (tmp_path / "pareto.png").stat().st_size > 10_000
    assert list(layouts) == ["after_attack_accuracy", "pgd_jsd", "pgd_tvd"]
    for name, layout in layouts.items():
        # Every method named in exactly one label; methods on one spot share it (SEAT by Eq. 6 on vanilla).
        named = [method for label in layout.labels for method in label.split("\n")]
        assert sorted(named) == sorted(rows), name
        assert "vanilla\nseat" in layout.labels and "seat_coded_l2_1000\nseat_coded_l2_1000_test_selected" in layout.labels
        boxes = list(layout.labels.values())
        for i, first in enumerate(boxes):
            for second in boxes[i + 1:]:
                assert not overlap(first, second), name
            for x, y in layout.markers.values():
                marker = (x - MARKER_HALF_SIZE, y - MARKER_HALF_SIZE, x + MARKER_HALF_SIZE, y + MARKER_HALF_SIZE)
                assert not overlap(first, marker), name
            frame = layout.frame
            assert frame[0] <= first[0] and first[2] <= frame[2] and frame[1] <= first[1] and first[3] <= frame[3], name


def test_points_intervals_and_frontier_of_the_figure_by_hand(tmp_path):
    rows = crowded_rows()
    layouts = pareto_figure(rows, str(tmp_path / "pareto.png"), methods=["vanilla", "word_at", "flat", "seat_coded_l2_1000"])
    tvd = layouts["pgd_tvd"]
    assert set(tvd.points) == {"vanilla", "word_at", "flat", "seat_coded_l2_1000"}  # only the methods asked for
    x, y = tvd.points["word_at"]
    assert x.centre == pytest.approx(0.839) and x.high - x.centre == pytest.approx(T_975_2 * 0.004 / math.sqrt(3))
    logs = [math.log10(0.016 * (1 + 0.1 * k)) for k in (-1, 0, 1)]
    assert y.centre == pytest.approx(10 ** (sum(logs) / 3))
    # Scores .829, .839, .821, .835; TVD .30, .016, .205, .117 (lower is better): word_at has both best.
    assert tvd.front == ["word_at"]
    # After-attack accuracy .390, .411, .681, .408 (higher is better): flat and word_at.
    assert layouts["after_attack_accuracy"].front == ["flat", "word_at"]
    assert layouts["pgd_jsd"].front == ["seat_coded_l2_1000", "word_at"]


def test_every_label_is_nearer_its_own_point_than_any_other(tmp_path):
    """So that no label reads as a neighbour's (points drawn on the same spot excepted). The
    placement aims at a margin of AMBIGUITY_MARGIN pixels; the test asks for the ordering."""
    from attention_perturb.experiments.pareto import box_distance

    layouts = pareto_figure(crowded_rows(), str(tmp_path / "pareto.png"))
    for name, layout in layouts.items():
        for label, box in layout.labels.items():
            own = layout.markers[label.split("\n")[0]]
            for other, point in layout.markers.items():
                if other not in label.split("\n"):
                    assert box_distance(box, point) > box_distance(box, own), (name, label, other)


def test_a_single_point_gets_limits_around_it_and_a_missing_measure_is_one_line(tmp_path, kept_figures):
    from attention_perturb.errors import SettingError

    rows = {"vanilla": {1: {"test_score": 0.8, "after_attack_accuracy": 0.4, "pgd_jsd": 0.01, "pearson": 0.5}}}
    pareto_figure(rows, str(tmp_path / "one.png"), panels=["after_attack_accuracy", "pgd_jsd"])
    linear, log = kept_figures[0].axes[:2]
    assert linear.get_xlim() == pytest.approx((0.8 - 0.0018, 0.8 + 0.0018))  # a span of 0.01 where there is none
    assert linear.get_ylim() == pytest.approx((0.4 - 0.0015, 0.4 + 0.0015))
    assert log.get_ylim() == pytest.approx((0.01 / 10 ** 0.15, 0.01 * 10 ** 0.15))  # one decade on a log axis
    with pytest.raises(SettingError) as raised:
        pareto_figure(rows, str(tmp_path / "none.png"), panels=["pgd_tvd"])
    assert str(raised.value) == "figure: no method has both a test score and pgd_tvd"
    with pytest.raises(SettingError) as raised:
        pareto_figure(rows, str(tmp_path / "none.png"), panels=["pgd_jsd", "speed"])
    assert str(raised.value) == "figure: unknown panels ['speed']; one of after_attack_accuracy, pgd_jsd, pgd_tvd"
    assert not (tmp_path / "none.png").exists()
