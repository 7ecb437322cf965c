"""allennlp's command line in tests, two ways.

`in_process` runs allennlp's own entry point (`allennlp.commands.main`) in the test's process: the
argument parsing, plugins, commands and error output a user gets, without the interpreter start
and imports (about 12 CPU-seconds) that each `python -m allennlp` costs. `as_subprocess` runs
`python -m allennlp` exactly as a user types it; tests that kill a training, start several
processes or need a fresh interpreter use it. Both return a `subprocess.CompletedProcess`.
"""
import contextlib
import io
import logging
import os
import subprocess
import sys
from typing import Dict, Optional

import allennlp.commands
from allennlp.commands import main

ALLENNLP = [sys.executable, "-m", "allennlp"]

_import_every_plugin = allennlp.commands.import_plugins
_plugins_imported_from = set()


def _import_plugins_once_per_folder() -> None:
    """allennlp's `import_plugins`, which `main` calls for every plugin command: it walks every
    allennlp module and the plugins (about a second each time), and imports nothing new after its
    first time in a process from the same working directory."""
    if os.getcwd() not in _plugins_imported_from:
        _import_every_plugin()
        _plugins_imported_from.add(os.getcwd())


allennlp.commands.import_plugins = _import_plugins_once_per_folder


def failed(args, result: subprocess.CompletedProcess) -> AssertionError:
    return AssertionError(f"allennlp {' '.join(map(str, args))} failed ({result.returncode}):\n{result.stderr[-3000:]}")


def as_subprocess(*args, env: Optional[Dict[str, str]] = None, check: bool = True,
                  timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run([*ALLENNLP, *map(str, args)], env={**os.environ, **(env or {})},
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise failed(args, result)
    return result


@contextlib.contextmanager
def _process_state_restored(env: Dict[str, str]):
    """What a command changes in a process and a later test would inherit: argv, the environment,
    the handlers of the root and tqdm loggers and the root's level (allennlp's `train` replaces
    them, pointing them at its run's out.log) and the excepthook."""
    loggers = [logging.getLogger(), logging.getLogger("tqdm")]
    saved_argv, saved_environ = sys.argv, dict(os.environ)
    saved_handlers = [list(logger.handlers) for logger in loggers]
    saved_level, saved_excepthook = loggers[0].level, sys.excepthook
    os.environ.update(env)
    try:
        yield
    finally:
        for logger, handlers in zip(loggers, saved_handlers):
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:] = handlers
        loggers[0].setLevel(saved_level)
        sys.argv, sys.excepthook = saved_argv, saved_excepthook
        os.environ.clear()
        os.environ.update(saved_environ)


class FlushedLines(io.StringIO):
    """Captured output that also keeps what was flushed (`flushed`): what a pipe or a log file read
    meanwhile would have shown."""

    def __init__(self):
        super().__init__()
        self.flushed = ""

    def flush(self):
        self.flushed = self.getvalue()


def in_process(*args, env: Optional[Dict[str, str]] = None, check: bool = True) -> subprocess.CompletedProcess:
    """`allennlp ARGS` through `allennlp.commands.main`, its exit status, stdout and stderr captured
    as the interpreter would leave them: an uncaught exception goes to `sys.excepthook` (a traceback
    on stderr, or what a hook the command installed prints) with status 1, `sys.exit(message)`
    prints the message (status 1), argparse's errors keep their status 2. While it runs, `sys.stdout`
    is a `FlushedLines`."""
    stdout, stderr = FlushedLines(), io.StringIO()
    returncode = 0
    with _process_state_restored(env or {}), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        # `python -m allennlp` logs INFO to stderr (allennlp/__main__.py's basicConfig).
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(logging.Formatter("%(asctime)s - %(levelname)s - %(name)s - %(message)s"))
        logging.getLogger().addHandler(console)
        logging.getLogger().setLevel(logging.INFO)
        sys.argv = ["allennlp", *map(str, args)]
        try:
            main(prog="allennlp")
        except SystemExit as exit:
            if isinstance(exit.code, int) or exit.code is None:
                returncode = exit.code or 0
            else:
                print(exit.code, file=sys.stderr)
                returncode = 1
        except Exception:
            sys.excepthook(*sys.exc_info())
            returncode = 1
    result = subprocess.CompletedProcess(["allennlp", *args], returncode, stdout.getvalue(), stderr.getvalue())
    if check and returncode != 0:
        raise failed(args, result)
    return result


def last_line(result: subprocess.CompletedProcess) -> str:
    return result.stderr.strip().splitlines()[-1]


def run_cli(monkeypatch, capsys, *args) -> str:
    """`allennlp ARGS` through allennlp's main in this process, its exception let through (for
    `pytest.raises`); returns what it printed on stdout."""
    monkeypatch.setattr(sys, "argv", ["allennlp", *map(str, args)])
    main(prog="allennlp")
    return capsys.readouterr().out
