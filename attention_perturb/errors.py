"""Errors in what a user typed or pointed at (the commands print them as one line)."""


class UsageError(ValueError):
    """A file, key or value the user gave cannot be used; the message names it (`grid.json: unknown
    keys ...`). The package's commands print it as one line `error: ...`."""


class SettingError(UsageError):
    """A library function's argument `setting` (its parameter name) cannot be used. Library code
    names the parameter, never a command-line flag: a command prints it under the flag it reads that
    parameter from (`--noise-std: ...` for `noise_std`), another caller under the parameter's name."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting
        self.message = message


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
    refuses it; the message names it and the protocol that accepts a partial release."""


class StoppedBeforeTheEnd(RuntimeError):
    """A search or sweep stopped (Ctrl-C, a lost node) with runs unfinished; rerunning resumes it."""
