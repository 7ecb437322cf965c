"""One `allennlp train` run as the search, the sweeps and Table 2 launch it: its folder, config and
seeds, whether it finished, and how an interrupted one continues from its last checkpoint."""
import shutil
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional

SEED_KEYS = ("random_seed", "numpy_seed", "pytorch_seed")  # the seeds of an allennlp training config


class Trial(NamedTuple):
    """One `allennlp train`: its environment variables, folder, and (sweeps) its own config file
    and JSON overrides instead of the search's."""

    name: str
    environment: Dict[str, str]
    directory: Path
    config: Optional[str] = None
    overrides: Optional[str] = None

    @property
    def serialization_dir(self) -> Path:
        return self.directory / "trial"

    @property
    def log_file(self) -> Path:
        return self.directory / "train.log"


def is_finished(serialization_dir: Path) -> bool:
    return (serialization_dir / "metrics.json").is_file() and (serialization_dir / "model.tar.gz").is_file()


def resumable(serialization_dir: Path) -> bool:
    """An interrupted run that allennlp's `--recover` can continue: allennlp has written its
    `config.json` (and so checks the rerun's config against it) but not finished."""
    return (serialization_dir / "config.json").is_file() and not is_finished(serialization_dir)


def resume_flags(serialization_dir: Path) -> List[str]:
    """The flags that continue an interrupted run in `serialization_dir` (`--recover`), or none after
    removing what a run stopped before writing its config left there. A resumed run is a valid run
    of the same config and seed, not a bit-for-bit copy of the uninterrupted one: the random draws
    after the checkpoint (batch order, dropout, perturbation noise) differ (README, "--recover")."""
    if resumable(serialization_dir):
        return ["--recover"]
    if serialization_dir.exists():
        shutil.rmtree(serialization_dir)
    return []


def thread_environment(threads: int) -> Dict[str, str]:
    """Caps a training's torch (OpenMP / MKL) threads."""
    return {name: str(threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
