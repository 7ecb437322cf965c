"""`allennlp results`: results files whose generated sections are made from committed records, checked
against tables computed here by hand, byte for byte, and refused in one line where they cannot be made."""
import json

import pytest

from tests.cli import in_process
from tests.experiments.test_reproduce_table2 import PROCESS

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
    stale = results(folder, "--check")
    assert stale.returncode == 1 and stale.stdout == f"would change: {folder / 'study.md'}\n"
    assert (folder / "study.md").read_text() == PAGE  # --check writes nothing
    rewritten = results(folder)
    assert rewritten.returncode == 0 and rewritten.stdout == f"rewritten: {folder / 'study.md'}\n"
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
    current = results(folder, "--check")
    assert current.returncode == 0 and current.stdout == f"{folder}: every generated section matches its record\n"
    assert results(folder).stdout == current.stdout  # nothing rewritten
    missing = results(folder / "missing")
    assert missing.returncode == 1 and missing.stderr.strip().splitlines()[-1] == f"error: {folder / 'missing'}: no such results folder"
    # A hand edit of a generated number is found.
    (folder / "study.md").write_text(text.replace("82.00 ± 2.00", "82.10 ± 2.00"))
    check = results(folder, "--check")
    assert check.returncode == 1 and f"would change: {folder / 'study.md'}" in check.stdout


@pytest.mark.parametrize("section, message", [
    ("<!-- begin magic record=study.json -->\n<!-- end magic -->", "study.md:3: unknown section kind 'magic'"),
    ("<!-- begin table2 record=missing.json -->\n<!-- end table2 -->", "missing.json: no such record"),
    ("<!-- begin sweep record=missing.json grid=grid.json figures=f -->\n<!-- end sweep -->", "missing.json: no such record"),
    ("<!-- begin table2 study.json -->\n<!-- end table2 -->", "study.md:3: arguments must be key=value"),
    ("<!-- begin table2 record=study.json grid=x -->\n<!-- end table2 -->", "study.md:3: table2:"),
])
def test_a_section_that_cannot_be_made_is_one_line_naming_the_file_and_line(folder, section, message):
    (folder / "grid.json").write_text(json.dumps({"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet", "methods": ["vanilla"], "seeds": 1}))
    (folder / "study.md").write_text(f"# A study\n\n{section}\n")
    result = results(folder)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()[-1:]
    assert line.startswith("error: ") and message in line
    assert (folder / "study.md").read_text() == f"# A study\n\n{section}\n"



@pytest.mark.long(seconds=45)
def test_the_committed_results_regenerate_from_their_committed_records():
    """What a reviewer's clean clone checks: every generated table and figure in benchmarks/results/ is
    what its committed record makes, with nothing typed over it."""
    from tests.conftest import REPO_ROOT

    check = results(REPO_ROOT / "benchmarks" / "results", "--check")
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]


def test_a_check_compares_every_page_and_every_figure_byte_for_byte(tmp_path):
    """A page without sections sorted first is passed over, not the end of the check; a figure a
    section writes is compared byte for byte with the committed one, and one missing is named."""
    from attention_perturb.experiments.results import regenerate
    from tests.experiments.test_robustness_report import ROBUSTNESS

    (tmp_path / "neighbours.json").write_text(json.dumps(ROBUSTNESS))
    (tmp_path / "a_notes.md").write_text("# Notes without a generated section\n")
    page = "<!-- begin robustness record=neighbours.json methods=vanilla,seat_l2_10 figure=pareto.png -->\n" \
           "<!-- end robustness -->\n"
    (tmp_path / "b_neighbours.md").write_text(page)
    assert regenerate(tmp_path, check=True) == [tmp_path / "b_neighbours.md", tmp_path / "pareto.png"]
    assert regenerate(tmp_path) == [tmp_path / "b_neighbours.md"]
    assert regenerate(tmp_path, check=True) == []
    figure = (tmp_path / "pareto.png").read_bytes()
    (tmp_path / "pareto.png").write_bytes(figure[:-1] + bytes([figure[-1] ^ 1]))  # same size, one bit off
    assert regenerate(tmp_path, check=True) == [tmp_path / "pareto.png"]


def test_a_section_argument_may_hold_an_equals_sign(tmp_path):
    (tmp_path / "page.md").write_text("<!-- begin tradeoff record=later.json methods=a pending='make RECORD=later.json' "
                                      "-->\n<!-- end tradeoff -->\n")
    assert results(tmp_path).returncode == 0
    assert "`make RECORD=later.json` makes it." in (tmp_path / "page.md").read_text()


def test_measures_pair_only_equal_seeds_and_show_no_interval_for_one():
    from attention_perturb.experiments.results import measures_markdown

    def runs(**pearson_by_seed):
        return {int(seed[1:]): {"metrics": {"test_pearson": value}} for seed, value in pearson_by_seed.items()}

    text = measures_markdown({"vanilla": runs(s1=0.5, s2=0.7), "attention_iat": runs(s2=0.75), "word_at": runs(s5=0.1)})
    assert text.splitlines()[2:7] == [
        "| method | seeds | pearson | Δ pearson |", "|---|---|---|---|",
        "| Vanilla | 2 | 0.600 ± 1.271 | - |",  # t(1)·s/√2 = 12.706 · 0.1414 / 1.414
        "| Word AT | 1 | 0.100 | - |",  # no seed in common with vanilla
        "| Attention iAT | 1 | 0.750 | +0.050 |"]  # one common seed: no interval
    assert "kendall" not in text and "top5" not in text  # agreements no run reported: no empty tables
    without_vanilla = measures_markdown({"attention_iat": runs(s2=0.75)})
    assert "| Attention iAT | 1 | 0.750 | - |" in without_vanilla
