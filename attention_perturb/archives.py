"""Loading model archives with an error a user can act on."""
import gzip
import os
import pickle
import tarfile
import zlib
from itertools import islice
from typing import Callable, List, Optional, Tuple

from allennlp.data import Instance
from allennlp.models.archival import Archive, load_archive

from attention_perturb.errors import EmptyDatasetError

# What a truncated, corrupt or non-archive file raises inside allennlp's load_archive.
UNREADABLE_ARCHIVE = (EOFError, tarfile.TarError, gzip.BadGzipFile, zlib.error, pickle.UnpicklingError)


class NotAModelArchive(ValueError):
    pass


def check_model_archive(archive_file: str) -> None:
    """Raises `NotAModelArchive` for a file that is not a whole (gzipped) tar archive, reading it
    through without unpacking it; a folder or a missing path is left to allennlp's own error."""
    if not os.path.isfile(archive_file):
        return
    try:
        with tarfile.open(archive_file, "r:gz") as archive:
            for _ in archive:
                pass
    except UNREADABLE_ARCHIVE as error:
        raise NotAModelArchive(f"not a model archive: {archive_file} ({type(error).__name__}: {error})") from None


def load_model_archive(archive_file: str, **kwargs) -> Archive:
    """allennlp's `load_archive`, raising `NotAModelArchive("not a model archive: PATH (...)")` for
    a truncated or non-archive file instead of a bare EOFError / ReadError from gzip or tarfile."""
    try:
        return load_archive(archive_file, **kwargs)
    except UNREADABLE_ARCHIVE as error:
        raise NotAModelArchive(f"not a model archive: {archive_file} ({type(error).__name__}: {error})") from None



def archive_and_instances(archive_file: str, input_file: str, check: Callable, max_instances: Optional[int] = None,
                          cuda_device: int = -1, purpose: str = "measure") -> Tuple[Archive, List[Instance]]:
    """The archive (`load_model_archive`), its model accepted by `check(model, archive_file)`, and the
    first `max_instances` instances of `input_file` read with its dataset reader; an input without
    any is an error naming it ("no instances to <purpose>")."""
    archive = load_model_archive(archive_file, cuda_device=cuda_device)
    check(archive.model, archive_file)
    instances = list(islice(archive.validation_dataset_reader.read(input_file), max_instances))
    if not instances:
        raise EmptyDatasetError(f"{input_file}: no instances to {purpose}")
    return archive, instances
