"""The package's commands report a user's mistake as one line, not a traceback."""
import argparse
import functools
import sys
from typing import Callable, Optional

from allennlp.common.checks import ConfigurationError

from attention_perturb.archives import NotAModelArchive
from attention_perturb.errors import DatasetFormatError, EmptyDatasetError, PartialReleaseError
from attention_perturb.errors import SettingError, StoppedBeforeTheEnd, UsageError
from attention_perturb.experiments.record import RecordError
from attention_perturb.experiments.results import ResultsError


# Mistakes in what a user typed or pointed at, whose messages name the file, line or key, and the
# expected end of a stopped search. Anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ConfigurationError, DatasetFormatError, EmptyDatasetError, NotAModelArchive, PartialReleaseError,
    FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError, RecordError,
    ResultsError, StoppedBeforeTheEnd, UsageError,
)


def flag_of(parser: Optional[argparse.ArgumentParser], setting: str) -> str:
    """The command-line flag that `parser` reads `setting` from: its first long spelling (`--output-dir`
    for `-o/--output-dir`), a positional argument's name, or the setting's own name where the parser
    has none."""
    for action in parser._actions if parser is not None else []:
        if action.dest == setting:
            long_flags = [flag for flag in action.option_strings if flag.startswith("--")]
            return (long_flags or action.option_strings or [action.metavar or action.dest])[0]
    return setting


def one_line(error: BaseException, parser: Optional[argparse.ArgumentParser] = None) -> str:
    if isinstance(error, SettingError):
        message = f"{flag_of(parser, error.setting)}: {error.message}"
    else:
        message = str(error)  # a ConfigurationError's is its message
    return "error: " + " ".join(message.split())


def run_reporting_errors(func: Callable[[argparse.Namespace], None], parser: argparse.ArgumentParser,
                         args: argparse.Namespace) -> None:
    try:
        func(args)
    except USER_ERRORS as error:
        if args.traceback:
            raise
        print(one_line(error, parser), file=sys.stderr)
        sys.exit(1)


def reporting_errors(subparser: argparse.ArgumentParser, func: Callable[[argparse.Namespace], None]) -> None:
    """Makes `func` the subparser's action, a user's mistake (`USER_ERRORS`) printed as one line
    `error: …` on stderr with exit status 1, a library's `SettingError` under the flag that gave the
    setting; `--traceback` prints the whole traceback instead."""
    subparser.add_argument("--traceback", action="store_true", help="on an error, show the whole traceback")
    subparser.set_defaults(func=functools.partial(run_reporting_errors, func, subparser))
