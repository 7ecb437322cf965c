"""`attention-perturb` (or `python -m attention_perturb`): allennlp's command line with this package
loaded before allennlp parses the command, so that its commands, and its checked `evaluate` and
`predict` (`commands/checked_allennlp.py`), are the ones that run. Every `allennlp` command works here."""
import sys

import attention_perturb  # noqa: F401  (registers the package's classes and commands)
from allennlp.commands import main as allennlp_main


def main() -> None:
    allennlp_main(prog="attention-perturb")


if __name__ == "__main__":
    sys.exit(main())
