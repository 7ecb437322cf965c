"""Reading data files: a reader's input that holds no example is an error naming the file."""
from typing import Callable, Iterable, Iterator, TypeVar

from allennlp.data import DatasetReader

from attention_perturb.errors import EmptyDatasetError

T = TypeVar("T")


def counted(instances: Iterable[T], reader: DatasetReader, path, skipped: Callable[[], int]) -> Iterator[T]:
    """Yields `instances`; raises `EmptyDatasetError` naming `path` when there was none, unless the
    reader reads a shard (another worker may hold the file's examples)."""
    empty = True
    for instance in instances:
        empty = False
        yield instance
    if empty and reader._worker_info is None and reader._distributed_info is None:
        invalid = skipped()
        reason = f"all {invalid} examples in it are invalid and were skipped" if invalid else "it holds no example"
        raise EmptyDatasetError(f"{path}: nothing to read: {reason}")
