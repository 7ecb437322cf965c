"""Robustness of trained models: word-substitution attacks and stability/faithfulness measures."""
