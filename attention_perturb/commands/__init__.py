from attention_perturb.commands.make_dataset import MakeDataset  # noqa: F401
from attention_perturb.commands.visualize import Visualize  # noqa: F401
from attention_perturb.commands.tune import Tune  # noqa: F401
from attention_perturb.commands.attack import Attack  # noqa: F401
from attention_perturb.commands.reproduce_table2 import ReproduceTable2  # noqa: F401
from attention_perturb.commands.stability import Stability  # noqa: F401
from attention_perturb.commands.robustness_table import RobustnessTable  # noqa: F401
from attention_perturb.commands.sweep import Sweep  # noqa: F401
from attention_perturb.commands.results import Results  # noqa: F401
from attention_perturb.commands.serve_compare import ServeCompare  # noqa: F401
from attention_perturb.commands.checked_allennlp import CheckedEvaluate, CheckedPredict  # noqa: F401
