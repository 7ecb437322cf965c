"""Output files that appear whole or not at all."""
import os
import tempfile
from pathlib import Path
from typing import Callable, Union


def write_atomically(path: Union[str, Path], content: Union[str, Callable[[str], None]]) -> None:
    """
    Writes `content` to `path` through a temporary file in the same folder and a rename, so that
    readers never see half a file and an interrupted run leaves none. `content` is the text, or a
    function that writes the file at the temporary path it is given (e.g. `figure.savefig`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            if isinstance(content, str):
                file.write(content)
        if not isinstance(content, str):
            content(temporary)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; these files are for sharing
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
