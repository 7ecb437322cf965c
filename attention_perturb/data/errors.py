from typing import Callable, Iterable, Iterator, TypeVar

from allennlp.data import DatasetReader

T = TypeVar("T")


class DatasetFormatError(ValueError):
    """Raised for a malformed input line; the message starts with `path:line:`."""

    def __init__(self, path, line_number: int, problem: str) -> None:
        super().__init__(f"{path}:{line_number}: {problem}")
        self.path = str(path)
        self.line_number = line_number


class EmptyDatasetError(ValueError):
    """Raised when a data file yields no example at all; the message starts with `path:`."""


class PartialReleaseError(ValueError):
    """A file or folder of a release is missing or shorter than the release, so the full protocol
    refuses it; the message names it and the flag that accepts a partial release."""


def counted(instances: Iterable[T], reader: DatasetReader, path, skipped: Callable[[], int]) -> Iterator[T]:
    """Yields `instances`; raises `EmptyDatasetError` naming `path` when there was none, unless the
    reader reads a shard (another worker may hold the file's examples)."""
    count = 0
    for instance in instances:
        count += 1
        yield instance
    if count == 0 and reader._worker_info is None and reader._distributed_info is None:
        invalid = skipped()
        reason = f"all {invalid} examples in it are invalid and were skipped" if invalid else "it holds no example"
        raise EmptyDatasetError(f"{path}: nothing to read: {reason}")
