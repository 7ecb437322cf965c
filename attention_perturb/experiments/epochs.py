"""What a finished run's epochs cost, over every process that trained it.

allennlp's `training_duration` and `peak_worker_0_memory_MB` in metrics.json count from the first
epoch that *its* process trained: for a run resumed with `--recover` they cover the last process
alone. Each metrics_epoch_N.json keeps the values its own process had reached, so the whole run's
cost can be read back from them.
"""
import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence

EPOCH_COSTS = ("training_duration", "peak_worker_0_memory_MB")


def duration_seconds(duration: str) -> float:
    """allennlp's `training_duration` (`str` of a timedelta: "H:MM:SS.ffffff", past a day
    "N day(s), H:MM:SS") in seconds."""
    days, _, clock = duration.rpartition(", ")
    hours, minutes, seconds = (float(part) for part in clock.split(":"))
    return 86400 * (int(days.split()[0]) if days else 0) + 3600 * hours + 60 * minutes + seconds


def epoch_costs(run_directory: Path, last_epoch: Optional[int]) -> Optional[List[Dict[str, float]]]:
    """Each epoch's `training_duration` (s) and `peak_worker_0_memory_MB` from metrics_epoch_N.json,
    epochs 0..`last_epoch` (metrics.json's `epoch`); None where that, a file or a value is missing
    (a folder made by hand or by another trainer)."""
    if last_epoch is None:
        return None
    costs = []
    for epoch in range(last_epoch + 1):
        path = run_directory / f"metrics_epoch_{epoch}.json"
        metrics = json.loads(path.read_text()) if path.is_file() else {}
        if not set(EPOCH_COSTS) <= set(metrics):
            return None
        costs.append({"training_duration": duration_seconds(metrics["training_duration"]),
                      "peak_worker_0_memory_MB": metrics["peak_worker_0_memory_MB"]})
    return costs


def seconds_over_every_process(clock: Sequence[float]) -> float:
    """Seconds that a run's epochs took over every process that trained it, from each epoch's
    `training_duration`: where the clock drops, a new process took over and the previous one's
    total is added. (A resumed first epoch that outlasts all the epochs of the process before it
    does not drop the clock and is not caught.)"""
    total, previous = 0.0, 0.0
    for seconds in clock:
        if seconds < previous:
            total += previous
        previous = seconds
    return total + previous
