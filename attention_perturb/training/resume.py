"""Continuing an interrupted `allennlp train` from its last checkpoint instead of from scratch."""
import shutil
from pathlib import Path
from typing import List

from attention_perturb.tune.experiment import is_finished


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
