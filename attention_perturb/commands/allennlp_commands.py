"""What the plugin changes in allennlp's own `evaluate` and `predict`: archives load with an error a
user can act on, `predict` writes all or nothing and refuses an input without examples, and a
user's mistake is reported as one line, as the package's own commands do."""
import os
import sys
import tempfile
from typing import Iterator, Optional

from allennlp.commands import evaluate, predict
from allennlp.common.util import JsonDict

from attention_perturb.archives import load_model_archive
from attention_perturb.errors import DatasetFormatError, EmptyDatasetError
from attention_perturb.errors import UsageError


class CheckedPredictManager(predict._PredictManager):
    """allennlp's prediction loop, all or nothing: predictions go to a temporary file beside
    `--output-file`, renamed onto it only when every input was predicted. An input without any
    example, or a line the predictor cannot read, is an error naming the file."""

    def __init__(self, predictor, input_file: str, output_file: Optional[str], *args, **kwargs) -> None:
        super().__init__(predictor, input_file, None, *args, **kwargs)
        self._final_output_file = output_file
        self._predictions = 0
        if output_file is not None:
            folder, name = os.path.split(os.path.abspath(output_file))
            self._output_file = tempfile.NamedTemporaryFile("w", dir=folder, prefix=f".{name}.", delete=False)

    def _maybe_print_to_console_and_file(self, index: int, prediction: str, model_input: str = None) -> None:
        self._predictions += 1
        super()._maybe_print_to_console_and_file(index, prediction, model_input)

    def _get_json_data(self) -> Iterator[JsonDict]:
        try:
            yield from super()._get_json_data()
        except (DatasetFormatError, EmptyDatasetError):
            raise
        except ValueError as error:  # the predictor's `input line N: problem`
            raise UsageError(f"{self._input_file}: {error}") from None

    def run(self) -> None:
        staging = self._output_file
        try:
            super().run()
            if self._predictions == 0:
                source = "standard input" if self._input_file == "-" else self._input_file
                raise EmptyDatasetError(f"{source}: nothing to predict: it holds no example")
            if staging is not None:
                os.replace(staging.name, self._final_output_file)
        except BaseException:
            if staging is not None:
                staging.close()
                os.unlink(staging.name)
            raise


ONE_LINE_COMMANDS = ("evaluate", "predict")


def one_line_user_errors(previous_hook):
    """An excepthook that prints a user's mistake (`USER_ERRORS`) in `allennlp evaluate` or
    `allennlp predict` as one line `error: …` (the interpreter then exits with status 1), and
    leaves every other exception, and every other program, to `previous_hook`."""
    from attention_perturb.commands.errors import USER_ERRORS, one_line

    def hook(kind, error, trace):
        if issubclass(kind, USER_ERRORS) and sys.argv[1:2] and sys.argv[1] in ONE_LINE_COMMANDS:
            print(one_line(error), file=sys.stderr)
        else:
            previous_hook(kind, error, trace)

    hook.one_line_user_errors = True
    return hook


def use_in_allennlp_commands() -> None:
    """`allennlp evaluate` and `allennlp predict` look `load_archive` and `_PredictManager` up in
    their modules when they run, so the plugin replaces them there. Their parsers, and so the
    function each runs, are made before allennlp imports the plugin: their errors are reported in
    one line by the excepthook instead."""
    for command in (evaluate, predict):
        command.load_archive = load_model_archive
    predict._PredictManager = CheckedPredictManager
    if not getattr(sys.excepthook, "one_line_user_errors", False):
        sys.excepthook = one_line_user_errors(sys.excepthook)
