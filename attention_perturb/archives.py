"""Loading model archives with an error a user can act on."""
import gzip
import pickle
import tarfile
import zlib

from allennlp.models.archival import Archive, load_archive

# What a truncated, corrupt or non-archive file raises inside allennlp's load_archive.
UNREADABLE_ARCHIVE = (EOFError, tarfile.TarError, gzip.BadGzipFile, zlib.error, pickle.UnpicklingError)


class NotAModelArchive(ValueError):
    pass


def load_model_archive(archive_file: str, **kwargs) -> Archive:
    """allennlp's `load_archive`, raising `NotAModelArchive("not a model archive: PATH (...)")` for
    a truncated or non-archive file instead of a bare EOFError / ReadError from gzip or tarfile."""
    try:
        return load_archive(archive_file, **kwargs)
    except UNREADABLE_ARCHIVE as error:
        raise NotAModelArchive(f"not a model archive: {archive_file} ({type(error).__name__}: {error})") from None

