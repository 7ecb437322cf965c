from attention_perturb.modules.attention import (  # noqa: F401
    AdditiveScoreAttention,
    ScaledDotScoreAttention,
    ScoreAttention,
    masked_attention_weights,
)
from attention_perturb.modules.pretrained import SpacyVectorsEmbedding  # noqa: F401
from attention_perturb.modules.unpacked_lstm import UnpackedBiLstm  # noqa: F401
