"""The page in a real browser, for the tests, the README's screenshot and the load benchmark: Debian's
headless Chromium driven by selenium, and `allennlp serve-compare` started as a user starts it."""
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from typing import Iterator, List, NamedTuple, Sequence

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVING = re.compile(r"^serving \d+ model\(s\) at (http://\S+) ")


def headless_chromium(width: int = 1200, height: int = 1400):
    """A selenium `webdriver.Chrome` on Debian's `chromium` and `chromium-driver` (`make install`
    installs both). Selenium is given both paths, so Selenium Manager, which would download a
    browser and a driver, never runs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} is missing: `make install` installs Debian's {package} package")
    options = Options()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--hide-scrollbars", f"--window-size={width},{height}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


class ServedCommand(NamedTuple):
    url: str  # the page's address
    stderr: List[str]  # the lines the command wrote on stderr so far (the list keeps growing)
    process: subprocess.Popen


@contextlib.contextmanager
def serve_compare_process(archives: Sequence[str], *arguments: str, timeout: float = 120) -> Iterator[ServedCommand]:
    """Runs `python -m allennlp serve-compare ARCHIVES --port 0 ARGUMENTS` while the block runs.
    Ends it with SIGINT, as Ctrl-C does."""
    command = [sys.executable, "-m", "allennlp", "serve-compare", *archives, "--port", "0", *arguments]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stderr: List[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        for line in process.stdout:
            match = SERVING.match(line)
            if match:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"serve-compare printed no address in {timeout} s")
        else:
            process.wait(30)
            reader.join(30)
            raise RuntimeError(f"serve-compare exited ({process.returncode}) before serving:\n{''.join(stderr[-20:])}")
        yield ServedCommand(match.group(1), stderr, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
        reader.join(30)
