"""allennlp's own `evaluate` and `predict`, extended through allennlp's subcommand registration: a file
that is not a model archive, or data without examples, is one line `error: …` (`--traceback` for the
whole traceback), and `predict` writes its output whole or not at all. allennlp parses its built-in
commands before it imports plugins, so these take effect where the package is imported first: the
`attention-perturb` command (`attention_perturb/__main__.py`, allennlp's CLI with the package loaded),
and any program that imports `attention_perturb` before calling `allennlp.commands.main`. Plain
`allennlp evaluate` and `allennlp predict` stay allennlp's own; nothing is patched at import."""
import argparse
import os
import sys
import tempfile
from typing import Iterator, Optional

from allennlp.commands.evaluate import Evaluate
from allennlp.commands.predict import Predict, _get_predictor, _PredictManager
from allennlp.commands.subcommand import Subcommand
from allennlp.common import logging as common_logging
from allennlp.common.util import JsonDict

from attention_perturb.archives import check_model_archive
from attention_perturb.commands.errors import reporting_errors
from attention_perturb.errors import DatasetFormatError, EmptyDatasetError, UsageError


class CheckedPredictManager(_PredictManager):
    """allennlp's prediction loop, all or nothing: predictions go to a temporary file beside
    `--output-file`, renamed onto it only when every input was predicted. An input without any
    example, or a line the predictor cannot read, is an error naming the file."""

    def __init__(self, predictor, input_file: str, output_file: Optional[str], *args) -> None:
        super().__init__(predictor, input_file, None, *args)
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


def checked_evaluate(evaluate_from_args):
    def run(args: argparse.Namespace):
        check_model_archive(args.archive_file)
        return evaluate_from_args(args)

    return run


def checked_predict(args: argparse.Namespace) -> None:
    """allennlp's `_predict`, with the archive checked first and `CheckedPredictManager`."""
    check_model_archive(args.archive_file)
    common_logging.FILE_FRIENDLY_LOGGING = args.file_friendly_logging
    predictor = _get_predictor(args)
    if args.silent and not args.output_file:
        print("--silent specified without --output-file.")
        print("Exiting early because no output will be created.")
        sys.exit(0)
    CheckedPredictManager(predictor, args.input_file, args.output_file, args.batch_size, not args.silent,
                          args.use_dataset_reader, args.multitask_head).run()


@Subcommand.register("evaluate", exist_ok=True)
class CheckedEvaluate(Evaluate):
    __doc__ = Evaluate.__doc__

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = super().add_subparser(parser)
        reporting_errors(subparser, checked_evaluate(subparser.get_default("func")))
        return subparser


@Subcommand.register("predict", exist_ok=True)
class CheckedPredict(Predict):
    __doc__ = Predict.__doc__

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        subparser = super().add_subparser(parser)
        reporting_errors(subparser, checked_predict)
        return subparser
