import pytest

from tests.archives import train_tiny


@pytest.fixture(scope="session")
def compared_archives(tmp_path_factory):
    """Three tiny archives the page compares, by the name it shows (each archive's folder): two
    SST classifiers and a bAbI pair model."""
    root = tmp_path_factory.mktemp("serve_compare")
    return {
        "vanilla": train_tiny(root / "vanilla"),
        "iat": train_tiny(root / "iat", method="attention_iat"),
        "babi": train_tiny(root / "babi", config="fixtures/babi_tiny.jsonnet"),
    }
