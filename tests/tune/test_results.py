"""`allennlp results`: results files whose generated sections are made from committed records, checked
against tables computed here by hand, byte for byte, and refused in one line where they cannot be made."""
import json

import pytest

from tests.cli import in_process
from tests.tune.test_reproduce_table2 import PROCESS

T_975_2 = 4.302652729911275  # Student t, 2 degrees of freedom


def run(f1, pearson, seed, epsilon=None, **further):
    return {"epsilon": epsilon,
            "metrics": {"test_f1": f1, "test_pearson": pearson, "training_duration": "0:00:30", "epoch": 2,
                        "peak_worker_0_memory_MB": 1024.0, **{f"test_{k}": v for k, v in further.items()}},
            "provenance": {"processes": [PROCESS], "encoder": "unpacked_lstm",
                           "seeds": {"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}}}


RECORD = {
    "identity": {"dataset": "sst", "config_pattern": "training_configs/{dataset}_{method}.jsonnet", "overrides": {}},
    "runs": {
        "vanilla": {str(s): run(f, p, s, kendall=k) for s, f, p, k in ((1, 0.80, 0.60, 0.1), (2, 0.82, 0.70, 0.2),
                                                                          (3, 0.84, 0.80, 0.3))},
        "attention_iat": {str(s): run(f, p, s, 0.1, kendall=k) for s, f, p, k in ((1, 0.81, 0.50, 0.2),
                                                                                   (2, 0.84, 0.55, 0.2),
                                                                                   (3, 0.83, 0.65, 0.2))},
    },
}
PAGE = """# A study

Prose stays as written.

<!-- begin table2 record=study.json -->
stale
<!-- end table2 -->

<!-- begin measures record=study.json -->
<!-- end measures -->
"""


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "study.json").write_text(json.dumps(RECORD))
    (tmp_path / "study.md").write_text(PAGE)
    return tmp_path


def results(*args):
    return in_process("results", *map(str, args), check=False)


def test_sections_are_made_from_the_record_and_a_check_then_finds_nothing(folder):
    assert results(folder, "--check").returncode == 1  # the stale section
    assert (folder / "study.md").read_text() == PAGE  # --check writes nothing
    assert results(folder).returncode == 0
    text = (folder / "study.md").read_text()
    assert text.startswith("# A study\n\nProse stays as written.\n\n<!-- begin table2 record=study.json -->\nSST: test F1")
    assert "stale" not in text
    # By hand: vanilla F1 80, 82, 84 -> 82.00 ± 2.00 (std); Pearson .6, .7, .8 -> 0.700 ± 0.100.
    assert "| Vanilla | - | 3 | 82.00 ± 2.00 | 79.27 | 0.700 ± 0.100 | 0.652 |" in text
    assert "| Attention iAT | 0.1 | 3 | 82.67 ± 1.53 | 82.20 | 0.567 ± 0.076 | 0.876 |" in text
    # Paired Pearson: -.1, -.15, -.15 -> mean -.133, s = .0289, CI = t·s/√3 = .072, excludes zero; the
    # CI of iAT's own mean: s = .0764 -> t·s/√3 = .190.
    assert f"| Attention iAT | 3 | 0.567 ± 0.190 | -0.133 ± {T_975_2 * 0.028867513 / 3 ** 0.5:.3f} * |" in text
    # Kendall τ: vanilla .1, .2, .3 -> 0.200 ± t·.1/√3 = 0.248; iAT .2 each: Δ +.1, 0, -.1 -> +0.000 ± 0.248.
    assert "| Vanilla | 3 | 0.200 ± 0.248 | - |" in text
    assert "| Attention iAT | 3 | 0.200 ± 0.000 | +0.000 ± 0.248 |" in text
    assert text.count("Provenance: commit 0123456; torch threads 1;") == 2 and "seeds 1, 2, 3." in text
    assert results(folder, "--check").returncode == 0
    # A hand edit of a generated number is found.
    (folder / "study.md").write_text(text.replace("82.00 ± 2.00", "82.10 ± 2.00"))
    check = results(folder, "--check")
    assert check.returncode == 1 and f"would change: {folder / 'study.md'}" in check.stdout


@pytest.mark.parametrize("section, message", [
    ("<!-- begin magic record=study.json -->\n<!-- end magic -->", "study.md:3: unknown section kind 'magic'"),
    ("<!-- begin table2 record=missing.json -->\n<!-- end table2 -->", "missing.json: no such record"),
    ("<!-- begin table2 study.json -->\n<!-- end table2 -->", "study.md:3: arguments must be key=value"),
    ("<!-- begin table2 record=study.json grid=x -->\n<!-- end table2 -->", "study.md:3: table2:"),
])
def test_a_section_that_cannot_be_made_is_one_line_naming_the_file_and_line(folder, section, message):
    (folder / "study.md").write_text(f"# A study\n\n{section}\n")
    result = results(folder)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and message in line
    assert (folder / "study.md").read_text() == f"# A study\n\n{section}\n"


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
