"""Every paired difference pairs a run with its baseline's run of the same seed (and, in a sweep,
of the same variant), over the seeds both have: never by position in a list."""
import json

import pytest

from attention_perturb.experiments.table2 import table2_markdown
from tests.cli import in_process

T_975_1 = 12.706204736174705  # Student t, 97.5 % quantile, 1 and 2 degrees of freedom (tables)
T_975_2 = 4.302652729911275


def test_table2_pairs_each_method_with_vanillas_run_of_the_same_seed():
    """Attention iAT lacks seed 2, Word AT shares no seed with vanilla. Attention iAT − vanilla at
    seeds 1 and 3: F1 +2, +5 (mean 3.5, s = 1.5·√2, CI = t(0.975, 1)·1.5) and Corr. +.1, +.1 (no
    spread: the CI is 0 and excludes zero). Paired by position it would be 82 − 80 and 75 − 90."""
    scores = {"vanilla": {1: (80.0, 0.60), 2: (90.0, 0.70), 3: (70.0, 0.50)},
              "attention_iat": {3: (75.0, 0.60), 1: (82.0, 0.70)},
              "word_at": {4: (85.0, 0.55)}}
    table = table2_markdown("sst", scores, {"vanilla": None, "attention_iat": 7.5, "word_at": 5.0})
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[table.splitlines().index(
        "| Model | seeds | F1 [%] | Corr. | Δ F1 [%] | Δ Corr. |"):]}
    # Attention iAT alone: F1 82, 75 (mean 78.5, s = 3.5·√2, CI = t·3.5); Corr. .7, .6 (CI = t·.05).
    assert rows["Attention iAT"] == (f"| Attention iAT | 2 | 78.50 ± {T_975_1 * 3.5:.2f} | 0.650 ± {T_975_1 * 0.05:.3f} | "
                                     f"3.50 ± {T_975_1 * 1.5:.2f} | 0.100 ± 0.000 * |")
    assert rows["Word AT"] == "| Word AT | 1 (0 paired) | 85.00 | 0.550 | - | - |"
    assert rows["Vanilla"].startswith("| Vanilla | 3 | 80.00 ± ") and rows["Vanilla"].endswith(" | - | - |")


GRID = {"dataset": "sst", "config": "training_configs/{dataset}_{method}.jsonnet", "methods": ["vanilla", "attention_at"],
        "seeds": 3, "variants": {"standardised": {"model.text_field_embedder.token_embedders.tokens.normalize": True},
                                 "released": {"overrides": {"model.perturbation.type": "attention_loss_decreasing"},
                                              "methods": ["attention_at"]}}}
# test F1 per cell and seed; each cell misses some seeds
F1 = {"vanilla": {1: 0.80, 2: 0.82, 3: 0.84},
      "vanilla__standardised": {1: 0.70, 2: 0.76, 3: 0.72},
      "attention_at": {1: 0.81, 2: 0.85, 3: 0.86},
      "attention_at__standardised": {2: 0.80, 3: 0.70},
      "attention_at__released": {1: 0.90}}


def test_a_sweep_pairs_each_cell_with_vanilla_of_its_variant_at_equal_seeds(tmp_path):
    """attention_at − vanilla: +1, +3, +2 (mean 2, s = 1, CI = t(0.975, 2)/√3). The standardised
    cell has seeds 2 and 3 and its baseline is vanilla__standardised: +4, −2 (mean 1, s = 3√2, CI =
    t(0.975, 1)·3). The released variant has no vanilla of its own: vanilla's default cell, at seed
    1 alone, +10. vanilla__standardised's own baseline is the default vanilla: −10, −6, −12."""
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({**GRID, "seeds": [1, 2, 3]}))
    for cell, seeds in F1.items():
        for seed, f1 in seeds.items():
            trial = out / cell / f"seed_{seed}" / "trial"
            trial.mkdir(parents=True)
            (trial / "metrics.json").write_text(json.dumps({"test_f1": f1, "best_validation_f1": f1, "best_epoch": 1}))
            (trial / "config.json").write_text(json.dumps({"random_seed": seed, "numpy_seed": seed, "pytorch_seed": seed}))
            (trial / "model.tar.gz").write_bytes(b"")
    text = in_process("sweep", "report", "-o", out).stdout
    rows = {row["cell"]: row for row in json.loads((out / "report.json").read_text())["rows"]}
    expected = {  # cell: (baseline, mean, 95 % CI half-width, paired seeds)
        "vanilla__standardised": ("vanilla", -28 / 3, T_975_2 * (28 / 3) ** 0.5 / 3 ** 0.5, 3),
        "attention_at": ("vanilla", 2.0, T_975_2 / 3 ** 0.5, 3),
        "attention_at__standardised": ("vanilla__standardised", 1.0, T_975_1 * 3.0, 2),
        "attention_at__released": ("vanilla", 10.0, None, 1),
    }
    for cell, (baseline, mean, half_width, count) in expected.items():
        difference = rows[cell]["differences"]["score"]
        assert rows[cell]["baseline"] == baseline, cell
        assert difference == {"mean": pytest.approx(mean), "ci95": pytest.approx(half_width), "n": count}, cell
    assert "baseline" not in rows["vanilla"]
    assert f"| attention_at__standardised | 2 | 75.00 ± {T_975_1 * 5:.2f} | 1.0 ± 0.0 | 1.00 ± {T_975_1 * 3:.2f} |" in text
