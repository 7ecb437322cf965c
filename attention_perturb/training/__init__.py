from attention_perturb.training.callbacks import AdversarialStatisticsCallback, ValidationAgreementCallback  # noqa: F401
