"""Attention-level adversarial training for AllenNLP (Kitada & Iyatomi, IEEE Access 2021).

Importing the package registers every reader, tokenizer, module, perturbation, model and callback.
"""
from attention_perturb import commands, data, modules, perturbations, interpret, models, predictors, training  # noqa: F401
