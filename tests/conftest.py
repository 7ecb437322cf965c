import pathlib

import pytest

import attention_perturb  # noqa: F401  (registers every component)

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
METHODS = ["vanilla", "word_at", "word_iat", "attention_rp", "attention_at", "attention_iat"]


@pytest.fixture(autouse=True)
def run_from_repo_root(monkeypatch):
    """Configs name data paths relative to the repository root, as the README's commands do."""
    monkeypatch.chdir(REPO_ROOT)
