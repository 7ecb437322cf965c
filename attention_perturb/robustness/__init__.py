"""Robustness of trained models: word-substitution attacks and stability/faithfulness measures."""
from attention_perturb.robustness.faithfulness import comprehensiveness_and_sufficiency  # noqa: F401
from attention_perturb.robustness.stability import stability_report  # noqa: F401
