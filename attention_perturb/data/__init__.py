from attention_perturb.data.tokenizers import JainWallaceTokenizer  # noqa: F401
from attention_perturb.data import dataset_readers  # noqa: F401
