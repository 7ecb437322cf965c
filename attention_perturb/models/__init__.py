from attention_perturb.models.adversarial import AdversarialAttentionModel  # noqa: F401
from attention_perturb.models.attention_classifier import AttentionClassifier  # noqa: F401
from attention_perturb.models.attention_pair_classifier import AttentionPairClassifier  # noqa: F401
from attention_perturb.models.seat_classifier import SeatClassifier  # noqa: F401
from attention_perturb.models.flat_classifier import FlatClassifier  # noqa: F401
from attention_perturb.models.bat_classifier import BatClassifier  # noqa: F401
from attention_perturb.models.seat_embedding_classifier import SeatEmbeddingClassifier  # noqa: F401
