"""Hyperparameter search on Ray Tune with allentune's interface (`allennlp tune`) and Dodge et al.'s
expected validation performance.

Modules import ray, pandas and matplotlib only where they are used, so `allennlp` starts fast."""
