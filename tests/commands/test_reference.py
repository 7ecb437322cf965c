"""docs/cli.md is the commands' `--help`, as their parsers print it today."""
from attention_perturb.commands.reference import cli_reference, package_commands
from tests.conftest import REPO_ROOT

COMMANDS = ["attack", "evaluate", "make-dataset", "predict", "reproduce-table2", "results", "robustness-table",
            "serve-compare", "stability", "sweep", "tune", "visualize"]


def test_the_reference_lists_the_package_commands_alone():
    assert package_commands() == COMMANDS  # allennlp's own `train`, `serve`, ... are not the package's


def test_docs_cli_md_is_every_commands_help_today():
    reference = cli_reference()
    for heading in ["## allennlp tune search", "## allennlp tune report", "## allennlp tune plot",
                    "## allennlp sweep run", "## allennlp sweep report"]:
        assert heading in reference  # each verb has its own section
    assert "--server-port SERVER_PORT\n" in reference and "(default = 10000)" in reference  # the defaults too
    assert (REPO_ROOT / "docs" / "cli.md").read_text() == reference, (
        "docs/cli.md is out of date: .venv/bin/python -m attention_perturb.commands.reference > docs/cli.md")
