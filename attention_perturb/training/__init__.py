from attention_perturb.training.callbacks import AdversarialStatisticsCallback, ValidationAgreementCallback  # noqa: F401
from attention_perturb.training.checkpointer import AtomicCheckpointer  # noqa: F401
from attention_perturb.training.optimizers import TorchAdamOptimizer  # noqa: F401
