import locale

import pytest


@pytest.fixture
def ascii_locale():
    """The process's character locale set to C (ASCII), as for a user whose system encoding is not
    UTF-8: a file opened without an explicit encoding is then decoded as ASCII (outside Python's
    UTF-8 mode)."""
    previous = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    try:
        yield
    finally:
        locale.setlocale(locale.LC_CTYPE, previous)
