"""The page of `allennlp serve-compare`, started as a user starts it, in headless Chromium: what a
person sees is each model's heatmaps and the numbers `allennlp predict` writes for the same input."""
import json

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from attention_perturb.serve.browser import headless_chromium, serve_compare_process
from tests.cli import in_process

TEXT = "a gorgeous , witty film about mary , who went to the kitchen ."
QUESTION = "where is mary ?"


def answered(driver, measure):
    """Waits until the page shows an answer for `measure`; returns what each model's card shows."""
    WebDriverWait(driver, 60).until(
        lambda d: d.find_element(By.ID, "results").get_attribute("data-state") == "done"
        and d.find_element(By.ID, "results").get_attribute("data-measure") == measure)
    cards = {}
    for card in driver.find_elements(By.CSS_SELECTOR, "#results .model"):
        def values(selector):
            return [None if cell.get_attribute("data-value") == "null" else float(cell.get_attribute("data-value"))
                    for cell in card.find_elements(By.CSS_SELECTOR, selector)]

        cards[card.get_attribute("data-model")] = {
            "label": card.find_element(By.CSS_SELECTOR, ".label").text,
            "probability": values(".probability")[0],
            "tokens": [token.text for token in card.find_elements(By.CSS_SELECTOR, ".heatmap.attention .tok")],
            "attention": values(".heatmap.attention .tok"),
            "importance": values(".heatmap.importance .tok"),
            "agreements": values(".pearson") + values(".kendall") + values(".topk"),
            "shown": [cell.text for cell in card.find_elements(By.CSS_SELECTOR, "table.agreement td")],
        }
    return cards


def predicted(archive, tmp_path):
    """What `allennlp predict --predictor attention_saliency` writes for the page's input, by measure:
    gradient × input always, and gradient norm as the further measure the overrides ask for."""
    pair = "babi" in archive
    inputs, output = tmp_path / "input.jsonl", tmp_path / "output.jsonl"
    inputs.write_text(json.dumps({"passage": TEXT, "question": QUESTION} if pair else {"sentence": TEXT}) + "\n")
    in_process("predict", archive, inputs, "--predictor", "attention_saliency", "--output-file", output, "--silent",
               "--overrides", json.dumps({"model.agreement_measures": [{"type": "gradient_norm"}]}))
    record = json.loads(output.read_text())
    shown = {"label": record["label"], "probability": record["probs"][record["label"]], "tokens": record["tokens"],
             "attention": record["attention"]}
    return {
        "gradient_x_input": {**shown, "importance": record["gradient_importance"],
                             "agreements": [record["pearson"], record["kendall_tau"], record["top5"]]},
        "gradient_norm": {**shown, "importance": record["importance_gradient_norm"], "agreements": [
            record["pearson_gradient_norm"], record["kendall_gradient_norm"], record["top5_gradient_norm"]]},
    }


def assert_shows(card, record):
    assert card["label"] == record["label"] and card["tokens"] == record["tokens"]
    for key in ("probability", "attention", "importance", "agreements"):
        assert card[key] == pytest.approx(record[key], abs=1e-6), key
    assert card["shown"] == ["n/a" if value is None else f"{value:.3f}" for value in record["agreements"]]


@pytest.mark.long(seconds=60)  # 20-40 s, and a minute or more on a busy machine: the command's start dominates
def test_the_page_shows_every_model_and_the_numbers_predict_gives(compared_archives, tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text(json.dumps({"passage": "john went to the garden .", "question": "where is john ?"}) + "\n")
    with serve_compare_process(list(compared_archives.values()), "--examples", str(examples)) as served:
        driver = headless_chromium()
        try:
            driver.get(served.url)
            driver.find_element(By.ID, "text").send_keys(TEXT)
            driver.find_element(By.ID, "question").send_keys(QUESTION)
            driver.find_element(By.ID, "compare").click()
            first = answered(driver, "gradient_x_input")
            assert list(first) == ["vanilla", "iat", "babi"]
            for card in first.values():  # a heatmap for every model
                assert card["tokens"] == TEXT.split() and len(card["importance"]) == len(TEXT.split())

            Select(driver.find_element(By.ID, "measure")).select_by_value("gradient_norm")
            second = answered(driver, "gradient_norm")
            for name in first:
                assert second[name]["importance"] != pytest.approx(first[name]["importance"], abs=1e-3)
                assert second[name]["agreements"][0] != pytest.approx(first[name]["agreements"][0], abs=1e-3)
                assert second[name]["attention"] == first[name]["attention"]

            for name, archive in compared_archives.items():
                records = predicted(archive, tmp_path)
                assert_shows(first[name], records["gradient_x_input"])
                assert_shows(second[name], records["gradient_norm"])

            # The permalink, opened afresh, shows the same numbers.
            driver.get(driver.find_element(By.ID, "permalink").get_attribute("href"))
            assert answered(driver, "gradient_norm") == second

            Select(driver.find_element(By.ID, "example")).select_by_index(1)
            by_example = answered(driver, "gradient_norm")
            assert by_example["babi"]["tokens"] == ["john", "went", "to", "the", "garden", "."]
        finally:
            driver.quit()
    assert served.process.returncode == 0
    assert not [line for line in served.stderr if "Traceback" in line or line.startswith(("ERROR", "error:"))]
