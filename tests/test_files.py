"""`write_atomically`: the text or a writer's file appears whole at the path, readable by all (0644),
through a temporary file beside it that carries the path's suffix, and no temporary outlives a
write, whether it succeeds or fails (KeyboardInterrupt included); a failed write leaves the old file."""
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from attention_perturb import files
from attention_perturb.files import write_atomically

TEXT = "naïve café — 東京 ✓\nsecond line\n"


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_text_is_written_as_utf8_with_mode_0644(tmp_path):
    path = tmp_path / "report.md"
    write_atomically(path, TEXT)
    assert path.read_bytes() == TEXT.encode("utf-8")
    assert mode(path) == 0o644
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_string_path_and_an_existing_file_are_replaced(tmp_path):
    path = tmp_path / "report.md"
    path.write_text("old, and longer than the new text\n")
    os.chmod(path, 0o600)
    write_atomically(str(path), "new\n")
    assert path.read_bytes() == b"new\n"
    assert mode(path) == 0o644
    assert sorted(tmp_path.iterdir()) == [path]


def test_missing_parent_folders_are_created(tmp_path):
    path = tmp_path / "a" / "b" / "c" / "out.json"
    write_atomically(path, "{}\n")
    assert path.read_text() == "{}\n"
    assert sorted(path.parent.iterdir()) == [path]
    write_atomically(path.parent / "second.json", "[]\n")  # the folder exists now
    assert (path.parent / "second.json").read_text() == "[]\n"


def test_the_writer_gets_a_hidden_temporary_beside_the_target_with_its_suffix(tmp_path):
    path = tmp_path / "figure.png"
    seen = []

    def savefig(temporary):
        assert isinstance(temporary, str)
        temporary = Path(temporary)
        seen.append(temporary)
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".figure.png.")
        assert temporary.suffix == ".png"
        assert temporary.exists() and not path.exists()
        assert temporary.read_bytes() == b""  # mkstemp's empty file, not written as text
        temporary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")

    write_atomically(path, savefig)
    assert len(seen) == 1
    assert path.read_bytes() == b"\x89PNG\r\n\x1a\n\x00\xff"
    assert mode(path) == 0o644
    assert not seen[0].exists()
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_writer_that_writes_nothing_leaves_an_empty_file(tmp_path):
    path = tmp_path / "empty.txt"
    write_atomically(path, lambda temporary: None)
    assert path.read_bytes() == b""
    assert mode(path) == 0o644


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt(), SystemExit(3)])
def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path, error):
    path = tmp_path / "figure.png"
    path.write_bytes(b"old")
    os.chmod(path, 0o600)
    seen = []

    def savefig(temporary):
        seen.append(Path(temporary))
        Path(temporary).write_bytes(b"half a fi")
        raise error

    with pytest.raises(type(error)) as raised:
        write_atomically(path, savefig)
    assert raised.value is error
    assert path.read_bytes() == b"old"
    assert mode(path) == 0o600
    assert not seen[0].exists()
    assert sorted(tmp_path.iterdir()) == [path]


def test_a_failing_first_write_leaves_nothing(tmp_path):
    path = tmp_path / "new" / "out.txt"

    def fail(temporary):
        raise RuntimeError("no")

    with pytest.raises(RuntimeError, match="^no$"):
        write_atomically(path, fail)
    assert list(path.parent.iterdir()) == []


def test_the_writers_error_comes_through_when_it_removed_the_temporary(tmp_path):
    def remove_then_fail(temporary):
        os.unlink(temporary)
        raise ValueError("bad figure")

    with pytest.raises(ValueError, match="^bad figure$"):
        write_atomically(tmp_path / "out.png", remove_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_text_that_cannot_be_written_leaves_the_old_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(path, "lone surrogate \udc80")
    assert path.read_text() == "old"
    assert sorted(tmp_path.iterdir()) == [path]


def test_text_is_utf8_whatever_the_locale(tmp_path):
    """In the C locale with Python's UTF-8 mode off, `open` defaults to ASCII: the text must still
    be written as UTF-8. The child loads the module from its file, under its own name, so that it
    does not import allennlp (and mutmut's trampolines, keyed on the name, still apply there)."""
    here, there = tmp_path / "here.txt", tmp_path / "there.txt"
    write_atomically(here, TEXT)
    child = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("attention_perturb.files", {ascii(files.__file__)})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert sys.flags.utf8_mode == 0
        module.write_atomically({ascii(str(there))}, {ascii(TEXT)})
    """)
    environment = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    completed = subprocess.run([sys.executable, "-c", child], env=environment, capture_output=True, text=True,
                               timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert there.read_bytes() == here.read_bytes() == TEXT.encode("utf-8")
