from typing import Dict, List, Optional, Sequence

import numpy
import torch

from attention_perturb.interpret.agreement import kendall_tau, top_k_overlap_per_instance


def top_k_intersection(first: Sequence[float], second: Sequence[float], k: int = 5) -> Optional[float]:
    """
    FLAT's top-k intersection of two word-attribution vectors over the same positions: the share
    of the k most important positions of `first` that are also among the k most important of
    `second` (k = 5 in FLAT's Table 3). Positions stand for words, so a word and the substitute at
    its position count as the same word ("we treat synonyms as the same words"). Texts shorter
    than k use their length; `None` for an empty text. Ties are broken by position
    (`top_k_overlap_per_instance`).
    """
    if len(first) != len(second):
        raise ValueError(f"attributions of different lengths: {len(first)} and {len(second)}")
    if len(first) == 0:
        return None
    values = torch.tensor([list(first), list(second)], dtype=torch.float64)
    mask = torch.ones(1, len(first), dtype=torch.bool)
    return float(top_k_overlap_per_instance(values[:1], values[1:], mask, k, short_texts="capped")[0])


class InterpretationConsistency:
    """
    FLAT's interpretation consistency between inputs and their adversarial examples (its Table 3
    "KT" and "TI"): for each named attribution (e.g. attention, gradient importance) the mean
    Kendall's τ-b and the mean top-k intersection over pairs. Pairs where τ is undefined (one
    word, or a constant attribution) are left out of its mean and counted in `<name>_kendall_tau_skipped`.

    # Parameters

    k : `int`, optional (default = `5`)
    """

    def __init__(self, k: int = 5) -> None:
        self.k = k
        self._values: Dict[str, List[float]] = {}
        self._skipped: Dict[str, int] = {}

    def pair(self, name: str, original: Sequence[float], adversarial: Sequence[float]) -> Dict[str, Optional[float]]:
        """Scores one pair, adds it to the means and returns its own scores."""
        return self.record(self.scores(name, original, adversarial))

    def scores(self, name: str, original: Sequence[float], adversarial: Sequence[float]) -> Dict[str, Optional[float]]:
        """One pair's scores, not added to the means."""
        return {
            f"{name}_kendall_tau": kendall_tau(original, adversarial),
            f"{name}_top{self.k}_intersection": top_k_intersection(original, adversarial, self.k),
        }

    def record(self, scores: Dict[str, Optional[float]]) -> Dict[str, Optional[float]]:
        """Adds one pair's scores (None: undefined, counted as skipped) to the means."""
        for key, value in scores.items():
            if value is None:
                self._skipped[key] = self._skipped.get(key, 0) + 1
            else:
                self._values.setdefault(key, []).append(value)
        return scores

    def get_metric(self) -> Dict[str, float]:
        metrics = {key: float(numpy.mean(values)) for key, values in self._values.items()}
        metrics.update({f"{key}_skipped": float(count) for key, count in self._skipped.items()})
        return metrics
