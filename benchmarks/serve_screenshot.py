"""
The README's screenshot of `allennlp serve-compare`, made as its browser test drives the page:
the command started as a user starts it, Debian's headless Chromium through selenium, a sentence
typed into the page and a measure chosen.

    .venv/bin/python benchmarks/serve_screenshot.py runs/serve_load/*/model.tar.gz -o docs/serve_compare.png \
        [--sentence "..."] [--measure gradient_x_input] [--names ...]
"""
import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from attention_perturb.serve.browser import headless_chromium, serve_compare_process  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archives", nargs="+")
    parser.add_argument("-o", "--output", required=True)
    parser.add_argument("--names", nargs="+")
    parser.add_argument("--sentence", default="the acting is wonderful , but the plot is thin and far too long .")
    parser.add_argument("--measure", default="gradient_x_input")
    parser.add_argument("--examples", default="data/sst/test.txt")
    arguments = parser.parse_args()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    extra = ["--examples", arguments.examples] + (["--names", *arguments.names] if arguments.names else [])
    with serve_compare_process(arguments.archives, *extra) as served:
        driver = headless_chromium(1100, 900)
        try:
            driver.get(served.url)
            driver.find_element(By.ID, "text").send_keys(arguments.sentence)
            Select(driver.find_element(By.ID, "measure")).select_by_value(arguments.measure)
            driver.find_element(By.ID, "compare").click()
            WebDriverWait(driver, 120).until(
                lambda d: d.find_element(By.ID, "results").get_attribute("data-state") == "done")
            # The whole page, not the window: the viewport made as tall as the document.
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": 1100, "height": height, "deviceScaleFactor": 1, "mobile": False})
            Path(arguments.output).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(arguments.output)
        finally:
            driver.quit()
    print(f"wrote {arguments.output}")


if __name__ == "__main__":
    main()
