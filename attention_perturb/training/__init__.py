from attention_perturb.training.callbacks import AdversarialStatisticsCallback  # noqa: F401
