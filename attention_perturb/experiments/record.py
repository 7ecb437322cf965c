"""A record of finished runs: each run's metrics (metrics.json, and whatever its reader adds) in one
JSON file to commit. Run folders do not outlive their sitting on every machine; the record is what
lets a study (`sweep run/report --record`, `reproduce-table2 --record`) span sittings: a later
sitting trains only the runs the record lacks and reports on all of them.

    {"identity": {...what the runs were made under...}, "runs": {<group>: {<seed>: {<metric>: ...}}}}

`identity` (a sweep's grid; Table 2's dataset, config pattern and overrides) must match the study
that reads the record, so that runs of another setting are never mixed in.
"""
import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Optional

from attention_perturb.files import write_atomically

Runs = Dict[str, Dict[int, Dict[str, Any]]]
FROM_RECORD = "from_record"  # marks, in memory only, a run read from a record rather than a folder


class RecordError(ValueError):
    """A record that cannot be read, or was made under another identity."""


def _load(path: Path) -> Optional[Dict[str, Any]]:
    if not path.exists():
        return None
    if not path.is_file():
        raise RecordError(f"{path}: --record must name a file, not a folder")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: not a record of runs (not valid JSON: {error})") from error
    if not isinstance(record, dict) or not isinstance(record.get("identity"), dict) \
            or not isinstance(record.get("runs"), dict):
        raise RecordError(f"{path}: not a record of runs (it needs an 'identity' and a 'runs' object)")
    return record


def read_identity(path: Path) -> Optional[Dict[str, Any]]:
    """The identity a record was made under; None when `path` does not exist yet."""
    record = _load(path)
    return None if record is None else record["identity"]


def read_record(path: Path, identity: Dict[str, Any]) -> Runs:
    """{group: {seed: run}} of the record at `path`, each run marked `from_record`; empty when the
    file does not exist yet. Refuses a record made under another identity, naming what differs."""
    record = _load(path)
    if record is None:
        return {}
    differing = sorted(key for key in set(identity) | set(record["identity"])
                       if identity.get(key) != record["identity"].get(key))
    if differing:
        raise RecordError(f"{path}: this record's runs were made with another {', '.join(differing)}; "
                          f"use the settings it was made with or choose another --record")
    return {group: {int(seed): {**run, FROM_RECORD: True} for seed, run in seeds.items()}
            for group, seeds in record["runs"].items()}


def merge(recorded: Runs, finished: Runs) -> Runs:
    """The recorded runs with the folders' finished runs over them (a run both hold is the folder's)."""
    merged = {group: dict(seeds) for group, seeds in recorded.items()}
    for group, seeds in finished.items():
        merged.setdefault(group, {}).update(seeds)
    return merged


def write_record(path: Path, identity: Dict[str, Any], runs: Runs) -> None:
    plain = {group: {str(seed): {key: value for key, value in run.items() if key != FROM_RECORD}
                     for seed, run in seeds.items()} for group, seeds in runs.items()}
    write_atomically(path, json.dumps({"identity": identity, "runs": plain}, indent=1, sort_keys=True) + "\n")


@contextlib.contextmanager
def recording(update: Callable[[], None]) -> Iterator[None]:
    """Calls `update` (which writes the record) after the body, also when the body raised (a failed
    or stopped run must not cost the runs that finished); an error of `update` then only warns, so
    that it does not hide the body's."""
    try:
        yield
    except BaseException:
        try:
            update()
        except Exception as error:
            print(f"warning: the record was not updated: {error}", file=sys.stderr)
        raise
    update()
