"""Hyperparameter search on Ray Tune with allentune's interface (`allennlp tune`), Dodge et al.'s
expected validation performance, and the paper's Table 2 (`allennlp reproduce-table2`).

Modules import ray, pandas and matplotlib only where they are used, so `allennlp` starts fast."""
