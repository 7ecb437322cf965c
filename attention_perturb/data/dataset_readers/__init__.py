from attention_perturb.data.dataset_readers.sst import SstTreesReader  # noqa: F401
from attention_perturb.data.dataset_readers.pair import PairReader  # noqa: F401
from attention_perturb.data.dataset_readers.babi_qa import BabiReader  # noqa: F401
from attention_perturb.data.dataset_readers.nli import NliReader  # noqa: F401
from attention_perturb.data.dataset_readers.text_classification import TextClassificationReader  # noqa: F401
from attention_perturb.data.dataset_readers.cnn import CnnReader  # noqa: F401
