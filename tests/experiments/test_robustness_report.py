"""`allennlp results` sections of robustness records (`experiments/robustness_report.py`): the robustness table and
the trade-off verdict made by hand from a fixture record, its picture made anew byte for byte, and
sections that cannot be made refused in one line."""
import json

import pytest

from tests.experiments.test_reproduce_table2 import PROCESS
from tests.experiments.test_results import results


def measured(score, tvd, entropy, seed, **further):
    """One seed's row of a robustness-table record, trained and measured at PROCESS."""
    return {"test_score": score, "pgd_tvd": tvd, "pgd_jsd": tvd / 100, "after_attack_accuracy": 0.4,
            "attention_entropy": entropy, "pearson": 0.7, **further,
            "provenance": {"processes": [PROCESS], "encoder": "unpacked_lstm",
                           "seeds": {"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}},
            "measured_by": {**PROCESS, "commit": "fedcba9876543210"}}


ROBUSTNESS = {
    "identity": {"command": "robustness-table", "data": "data/sst/test.txt", "budget": 40, "pgd_clip": True,
                 "stability_precision": "float64"},
    "runs": {
        "vanilla": {str(s): measured(f, t, 0.7, s) for s, f, t in ((1, 0.82, 0.30), (2, 0.83, 0.25), (3, 0.84, 0.20))},
        # λ2 = 10: TVD ratios 10, 12.5, 10 (geometric mean 10.77), score −0.005, −0.005, −0.005.
        "seat_l2_10": {str(s): measured(f, t, 0.9, s) for s, f, t in ((1, 0.815, 0.030), (2, 0.825, 0.020), (3, 0.835, 0.020))},
        # λ2 = 1000: TVD ratios 30, 25, 20, but score −0.02 at every seed.
        "seat_l2_1000": {str(s): measured(f, t, 1.0, s) for s, f, t in ((1, 0.80, 0.010), (2, 0.81, 0.010), (3, 0.82, 0.010))},
        # λ2 = 1: score unchanged, TVD ratios 2 — and only two seeds.
        "seat_l2_1": {str(s): measured(f, t, 0.7, s) for s, f, t in ((1, 0.82, 0.15), (2, 0.83, 0.125))},
    },
}
ROBUSTNESS_PAGE = """# Neighbours

<!-- begin tradeoff record=neighbours.json methods=seat_l2_1,seat_l2_10,seat_l2_1000 target=pgd_tvd columns=pearson -->
<!-- end tradeoff -->

<!-- begin robustness record=neighbours.json methods=vanilla,seat_l2_10 columns=test_score,pgd_tvd,attention_entropy figure=pareto.png -->
<!-- end robustness -->

<!-- begin robustness record=neighbours.json methods=seat_l2_10,seat_l2_1000 columns=test_score baseline=seat_l2_10 -->
<!-- end robustness -->
"""


def test_robustness_and_tradeoff_sections_by_hand(tmp_path):
    (tmp_path / "neighbours.json").write_text(json.dumps(ROBUSTNESS))
    (tmp_path / "neighbours.md").write_text(ROBUSTNESS_PAGE)
    assert results(tmp_path).returncode == 0
    text = (tmp_path / "neighbours.md").read_text()
    # λ2 = 10: Δ score −0.005 at each seed (no spread: CI 0, excludes 0); ratios .3/.03, .25/.02, .2/.02.
    assert ("| seat_l2_10 | 3 | -0.005 ± 0.000 * | 0.023 ± 0.006 | 1: 10.0×, 2: 12.5×, 3: 10.0× | "
            f"{(10 * 12.5 * 10) ** (1 / 3):#.3g}× | 0.900 ± 0.000 | 0.700 ± 0.000 |") in text
    assert "| seat_l2_1000 | 3 | -0.020 ± " in text and "| 0.010 ± 0.000 | 1: 30.0×, 2: 25.0×, 3: 20.0× | 24.7× | 1.000" in text
    assert "| seat_l2_1 | 2 | 0.000 ± 0.000 | " in text and "1: 2.00×, 2: 2.00× | 2.00× |" in text
    assert ("**Settings meeting every condition** (at least 3 seeds paired with vanilla, mean Δ test_score ≥ −0.010, "
            "and pgd_tvd at least 10× below vanilla's (geometric mean of the per-seed ratios)), in the order given: "
            "seat_l2_10; the first is **seat_l2_10**. Not met: seat_l2_1 (2 of 3 seeds; pgd_tvd ratio 2.00× < 10×); "
            "seat_l2_1000 (Δ test_score -0.020 < −0.010).") in text
    # The robustness table: mean ± std over seeds, Δ to vanilla, provenance of training and of measuring.
    assert "| vanilla | 3 | 0.830 ± 0.010 | 0.250 ± 0.050 | 0.700 ± 0.000 |" in text
    assert "| seat_l2_10 − vanilla | 3 | -0.005 ± 0.000 * | -0.227 ± 0." in text
    assert "Difference to seat_l2_10 at equal seeds" in text and "| seat_l2_1000 − seat_l2_10 | 3 | -0.015 ± " in text
    assert "Trained: commit 0123456; torch threads 1;" in text and "Measured by commit fedcba9; torch threads 1." in text
    assert "pgd_clip True, stability_precision float64" in text
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "![Pareto picture](pareto.png)" in text
    assert results(tmp_path, "--check").returncode == 0  # the figure too is made anew, byte for byte


def test_a_tradeoff_that_no_setting_meets_says_so(tmp_path):
    (tmp_path / "neighbours.json").write_text(json.dumps(ROBUSTNESS))
    (tmp_path / "page.md").write_text("<!-- begin tradeoff record=neighbours.json methods=seat_l2_1,seat_l2_1000 "
                                      "target=pgd_tvd -->\n<!-- end tradeoff -->\n")
    assert results(tmp_path).returncode == 0
    text = (tmp_path / "page.md").read_text()
    assert "**No setting meets every condition** (at least 3 seeds" in text
    # Without a target the rule is the score alone (BAT's sweep): λ2 = 1 fails on its seeds only.
    (tmp_path / "page.md").write_text("<!-- begin tradeoff record=neighbours.json methods=seat_l2_1000,seat_l2_1 "
                                      "within=0.03 seeds=2 -->\n<!-- end tradeoff -->\n")
    assert results(tmp_path).returncode == 0
    assert "in the order given: seat_l2_1000, seat_l2_1; the first is **seat_l2_1000**." in (tmp_path / "page.md").read_text()


@pytest.mark.parametrize("section, message", [
    ("<!-- begin tradeoff record=neighbours.json methods=seat_l2_10,bat -->\n<!-- end tradeoff -->",
     "page.md:1: tradeoff: neighbours.json: no measures of bat"),
    ("<!-- begin robustness record=neighbours.json columns=test_score,speed -->\n<!-- end robustness -->",
     "page.md:1: robustness: columns: unknown measures speed"),
])
def test_a_robustness_section_that_cannot_be_made_is_one_line(tmp_path, section, message):
    (tmp_path / "neighbours.json").write_text(json.dumps(ROBUSTNESS))
    (tmp_path / "page.md").write_text(section + "\n")
    result = results(tmp_path)
    assert result.returncode == 1 and message in result.stderr.strip().splitlines()[-1]


def test_a_section_whose_record_is_pending_names_the_command_that_makes_it(tmp_path):
    page = ("<!-- begin tradeoff record=later.json methods=a pending='bash benchmarks/sst_neighbours.sh DIR' -->\n"
            "<!-- end tradeoff -->\n")
    (tmp_path / "page.md").write_text(page)
    assert results(tmp_path).returncode == 0
    assert "Pending: `later.json` not made yet; `bash benchmarks/sst_neighbours.sh DIR` makes it." in (tmp_path / "page.md").read_text()
    # Without `pending`, a missing record stays an error.
    (tmp_path / "page.md").write_text(page.replace(" pending='bash benchmarks/sst_neighbours.sh DIR'", ""))
    result = results(tmp_path)
    assert result.returncode == 1 and "later.json: no such record" in result.stderr.strip().splitlines()[-1]


def test_further_columns_asked_for_are_shown_with_their_differences(tmp_path):
    """Table 2's Kendall τ and top-5 overlap, and BAT's protocol's columns, are in no robustness-table
    row's COLUMNS: asked for by `columns`, they are shown and paired, not silently dropped."""
    record = {"identity": {"command": "robustness-table"}, "runs": {
        "vanilla": {str(s): measured(0.83, 0.3, 0.7, s, kendall=k, top5=0.6, synonym=0.8)
                    for s, k in ((1, 0.38), (2, 0.39), (3, 0.40))},
        "attention_iat": {str(s): measured(0.82, 0.3, 0.7, s, kendall=k, top5=0.6, synonym=0.7)
                          for s, k in ((1, 0.36), (2, 0.37), (3, 0.38))},
    }}
    (tmp_path / "six.json").write_text(json.dumps(record))
    (tmp_path / "page.md").write_text("<!-- begin robustness record=six.json columns=test_score,pearson,kendall,top5,synonym -->\n"
                                      "<!-- end robustness -->\n")
    assert results(tmp_path).returncode == 0
    text = (tmp_path / "page.md").read_text()
    assert ("| Method | Seeds | Test score ↑ | Pearson ↑ | Kendall τ ↑ | Top-5 overlap ↑ | Synonym ASR, budget 2,000 ↓ |"
            in text)
    assert "| vanilla | 3 | 0.830 ± 0.000 | 0.700 ± 0.000 | 0.390 ± 0.010 | 0.600 ± 0.000 | 0.800 ± 0.000 |" in text
    assert "| attention_iat − vanilla | 3 | -0.010 ± 0.000 * | 0.000 ± 0.000 | -0.020 ± 0.000 * | 0.000 ± 0.000 | -0.100 ± 0.000 * |" in text
    # Without `columns`, the table is the robustness table's own columns, as before.
    (tmp_path / "page.md").write_text("<!-- begin robustness record=six.json -->\n<!-- end robustness -->\n")
    assert results(tmp_path).returncode == 0
    assert "Kendall" not in (tmp_path / "page.md").read_text()


def write_record(folder, runs, name="record.json"):
    (folder / name).write_text(json.dumps({"identity": {"command": "robustness-table"}, "runs": runs}))
    return name


def test_the_tradeoff_boundaries_meet_the_rule(tmp_path):
    """A mean Δ score of exactly −within and a ratio of exactly the factor meet it; a setting's zero
    target value gives no ratio for its seed (rather than a division by zero)."""
    from attention_perturb.experiments.robustness_report import tradeoff_section

    row = lambda score, tvd: {"test_score": score, "pgd_tvd": tvd}  # noqa: E731
    record = write_record(tmp_path, {
        "vanilla": {"1": row(0.75, 0.5), "2": row(0.75, 0.5)},
        "edge": {"1": row(0.5, 0.25), "2": row(0.5, 0.25)},  # Δ −0.25, ratios 2
        "zero": {"1": row(0.75, 0.0), "2": row(0.75, 0.0009765625)},  # seed 1 no ratio; seed 2 ratio 512
        "far": {"1": row(0.75, 0.00048828125), "2": row(0.75, 0.00048828125)},  # ratios 1,024
    })
    text = tradeoff_section(tmp_path, tmp_path, record, methods="edge,zero,far", target="pgd_tvd", factor="2",
                            within="0.25", seeds="2")
    assert "| edge | 2 | -0.250 ± 0.000 * | 0.250 ± 0.000 | 1: 2.00×, 2: 2.00× | 2.00× |" in text
    assert "| zero | 2 | 0.000 ± 0.000 | 0.000488 ± 0.000691 | 2: 512.× | 512.× |" in text
    assert "| far | 2 | 0.000 ± 0.000 | 0.000488 ± 0.000 | 1: 1.02e+03×, 2: 1.02e+03× | 1.02e+03× |" in text
    assert "in the order given: edge, zero, far; the first is **edge**." in text
    text = tradeoff_section(tmp_path, tmp_path, record, methods="edge", target="pgd_tvd", factor="2.5", within="0.2",
                            seeds="3")
    assert "Not met: edge (2 of 3 seeds; Δ test_score -0.250 < −0.200; pgd_tvd ratio 2.00× < 2.5×)." in text


def test_what_measured_the_rows_is_one_sentence(tmp_path):
    from attention_perturb.experiments.robustness_report import measured_summary

    rows = {"vanilla": {1: {"measured_by": {"commit": "0123456789", "dirty": True, "torch_threads": 2}},
                        2: {"measured_by": {"commit": "fedcba9876", "torch_threads": 1}},
                        3: {"measured_by": {"torch_threads": 1}}},
            "flat": {1: {}}}
    assert measured_summary(rows, ["vanilla", "flat"]) == (
        "Measured by commit 0123456 (dirty), fedcba9, unknown; torch threads 1, 2; 1 of 4 rows without a record of it.")
    assert measured_summary(rows, ["vanilla"]).endswith("torch threads 1, 2.")
    assert measured_summary(rows, ["flat"]) == "Measured: not recorded."


def test_a_section_is_pending_while_any_record_it_reads_is_missing(tmp_path):
    from attention_perturb.experiments.robustness_report import when_made

    def section(folder, output, record, **settings):
        """The section's own docstring."""
        return f"made from {record} with {settings}"

    wrapped = when_made(section)
    assert wrapped.__doc__ == "The section's own docstring."
    record = write_record(tmp_path, {"vanilla": {}})
    assert wrapped(tmp_path, tmp_path, record, pending="make it", extra="later.json,,other.json") == (
        "Pending: `later.json`, `other.json` not made yet; `make it` makes it.\n")
    assert wrapped(tmp_path, tmp_path, record, pending="make it") == "made from record.json with {}"
    assert wrapped(tmp_path, tmp_path, record, extra="later.json") == "made from record.json with {'extra': 'later.json'}"
