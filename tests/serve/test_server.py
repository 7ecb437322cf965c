"""The server under the page, with a one-route application: where it listens (IPv4 and IPv6
loopback), what it prints while serving (warnings only, no line per request) and the micro-batcher's
shutdown."""
import os
import subprocess
import sys
import urllib.request

import pytest
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

from attention_perturb.serve.batching import MicroBatcher
from attention_perturb.serve.server import serving_in_thread


def one_route_app() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=PlainTextResponse)
    async def hello() -> str:
        return "hello"

    return app


@pytest.mark.parametrize("host, shown", [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]")])
def test_the_server_answers_at_the_address_it_prints(host, shown):
    with serving_in_thread(one_route_app(), host=host) as url:
        assert url.startswith(f"http://{shown}:") and url.endswith("/")
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        assert port > 0  # port 0 asked: the one the kernel gave
        with urllib.request.urlopen(url, timeout=30) as response:
            assert response.read() == b"hello"


def test_serving_prints_no_start_up_banner_and_no_line_per_request(capfd):
    with serving_in_thread(one_route_app()) as url:
        for _ in range(3):
            urllib.request.urlopen(url, timeout=30).read()
    printed = capfd.readouterr()
    assert "GET /" not in printed.err + printed.out
    assert "Uvicorn running" not in printed.err and "Started server process" not in printed.err


def test_closing_the_batcher_answers_what_was_submitted_and_runs_nothing_else():
    batcher = MicroBatcher(lambda items: [item * 2 for item in items])
    assert [batcher.submit(number).result(timeout=30) for number in (7, 8)] == [14, 16]  # one at a time
    assert batcher.batch_sizes == {1: 2}
    batcher.batch_sizes.clear()
    futures = [batcher.submit(number) for number in range(5)]
    batcher.close()
    assert [future.result(timeout=30) for future in futures] == [0, 2, 4, 6, 8]
    assert sum(size * count for size, count in batcher.batch_sizes.items()) == 5  # no batch but the items'
    assert not batcher._worker.is_alive()


def test_the_page_is_read_as_utf8_in_an_ascii_locale_too():
    """page.html holds non-ASCII text ("Kendall τ"): read with the locale's encoding, a machine whose
    locale is ASCII would fail to serve it. Read here, and in a Python that runs in the C locale
    without UTF-8 mode (which, under a mutant, runs the same mutant: mutmut's variable is inherited)."""
    from attention_perturb.serve.app import page_template

    assert "Kendall τ" in page_template()
    environment = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
                   "PYTHONIOENCODING": "utf-8"}
    script = ("import locale; assert locale.getpreferredencoding(False).lower() in ('ansi_x3.4-1968', 'ascii'); "
              "from attention_perturb.serve.app import page_template; "
              "assert 'Kendall \\u03c4' in page_template()")
    result = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_batcher_left_open_does_not_keep_its_process_alive():
    """Its worker is a daemon thread: a command stopped before it closes the batcher (Ctrl-C) exits."""
    MicroBatcher(lambda items: items).close()  # built here too, so that a mutation tool sees this test reach it
    script = "from attention_perturb.serve.batching import MicroBatcher; MicroBatcher(lambda items: items).submit(1)"
    result = subprocess.run([sys.executable, "-c", script], env=os.environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("missing, package", [("CHROMIUM", "chromium"), ("CHROMEDRIVER", "chromium-driver")])
def test_a_missing_browser_names_the_package_that_installs_it(tmp_path, monkeypatch, missing, package):
    from attention_perturb.serve import browser

    monkeypatch.setattr(browser, missing, str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError) as raised:
        browser.headless_chromium()
    assert str(raised.value) == f"{tmp_path / 'absent'} is missing: `make install` installs Debian's {package} package"
