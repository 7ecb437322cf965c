from attention_perturb.perturbations.base import Perturbation, per_instance_unit  # noqa: F401
from attention_perturb.perturbations.none import NoPerturbation  # noqa: F401
from attention_perturb.perturbations.attention_random import AttentionRandom  # noqa: F401
from attention_perturb.perturbations.attention_adversarial import AttentionAdversarial  # noqa: F401
from attention_perturb.perturbations.attention_interpretable import AttentionInterpretable  # noqa: F401
from attention_perturb.perturbations.attention_loss_decreasing import AttentionLossDecreasing  # noqa: F401
from attention_perturb.perturbations.word_adversarial import WordAdversarial  # noqa: F401
from attention_perturb.perturbations.word_interpretable import WordInterpretable  # noqa: F401
