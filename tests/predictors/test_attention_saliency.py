import io
import json
import os
import shutil
import sys

import numpy
import scipy.stats
import pytest
from allennlp.predictors import Predictor

from tests.archives import attention_iat_archive  # noqa: F401  (a session fixture)
from tests.cli import in_process


@pytest.fixture
def archive(attention_iat_archive):
    return attention_iat_archive


@pytest.fixture
def predictor(archive):
    return Predictor.from_path(str(archive), predictor_name="attention_saliency")


def cli(*args):
    return in_process(*args, check=False)


def test_prediction_holds_tokens_label_attention_importance_and_agreement(predictor):
    result = predictor.predict_json({"sentence": "A gorgeous, witty film."})
    assert result["tokens"] == ["a", "gorgeous", ",", "witty", "film", "."]
    assert result["label"] in result["probs"] and sum(result["probs"].values()) == pytest.approx(1.0)
    assert len(result["attention"]) == len(result["gradient_importance"]) == 6
    assert sum(result["attention"]) == pytest.approx(1.0) and sum(result["gradient_importance"]) == pytest.approx(1.0)
    expected = numpy.corrcoef(result["attention"], result["gradient_importance"])[0, 1]
    assert result["pearson"] == pytest.approx(expected, abs=1e-6)
    # Against the attention and importance it outputs: a τ of attention against itself would be 1.
    expected_tau = scipy.stats.kendalltau(result["attention"], result["gradient_importance"]).statistic
    assert result["kendall_tau"] == pytest.approx(expected_tau, abs=1e-9) and result["kendall_tau"] < 1
    top5 = set(numpy.argsort(result["attention"])[-5:]) & set(numpy.argsort(result["gradient_importance"])[-5:])
    assert result["top5"] == pytest.approx(len(top5) / 5)
    single = predictor.predict_json({"sentence": "Great"})
    assert single["pearson"] is None and single["kendall_tau"] is None and single["top5"] is None


def test_batched_agreements_are_over_each_instances_own_tokens(predictor):
    """In a batch the short sentence is padded: its agreements are over its own tokens only."""
    sentences = ["the plot is thin but the acting is wonderful and the music lifts every scene .", "dull , flat and far too long ."]
    results = predictor.predict_batch_json([{"sentence": sentence} for sentence in sentences])
    for sentence, result in zip(sentences, results):
        attention, importance = result["attention"], result["gradient_importance"]
        assert len(attention) == len(importance) == len(sentence.split())
        assert result["kendall_tau"] == pytest.approx(scipy.stats.kendalltau(attention, importance).statistic, abs=1e-9)
        assert result["pearson"] == pytest.approx(scipy.stats.pearsonr(attention, importance).statistic, abs=1e-6)
        top5 = set(numpy.argsort(attention)[-5:]) & set(numpy.argsort(importance)[-5:])
        assert result["top5"] == pytest.approx(len(top5) / 5)
    # Padded with zeros, the short sentence's τ would differ.
    short, padding = results[1], [0.0] * (len(results[0]["attention"]) - len(results[1]["attention"]))
    padded = scipy.stats.kendalltau(short["attention"] + padding, short["gradient_importance"] + padding).statistic
    assert short["kendall_tau"] != pytest.approx(padded, abs=1e-6)


def test_further_measures_come_with_their_importance_and_agreements(archive):
    overrides = {"model.agreement_measures": [{"type": "leave_one_out"}]}
    predictor = Predictor.from_path(str(archive), predictor_name="attention_saliency", overrides=overrides)
    result = predictor.predict_json({"sentence": "the plot is thin but the acting is wonderful ."})
    importance = result["importance_leave_one_out"]
    assert len(importance) == 10 and sum(importance) == pytest.approx(1.0)
    assert result["pearson_leave_one_out"] == pytest.approx(numpy.corrcoef(result["attention"], importance)[0, 1], abs=1e-6)
    assert result["kendall_leave_one_out"] == pytest.approx(
        scipy.stats.kendalltau(result["attention"], importance).statistic, abs=1e-9)


def png_height(path):
    return int.from_bytes(path.read_bytes()[20:24], "big")  # in the IHDR chunk, after the width


def test_predict_and_visualize_through_the_cli(archive, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    lines = ['{"sentence": "a gorgeous , witty film ."}', '{"sentence": "dull and far too long ."}']
    tree = next(line.strip() for line in open("fixtures/sst/test.txt") if not line.startswith("(2 "))
    inputs.write_text("\n".join(lines + [tree]) + "\n")
    dumps = []
    for name in ("first", "second"):
        dump = tmp_path / f"dump_{name}.jsonl"
        result = cli("predict", str(archive), str(inputs), "--predictor", "attention_saliency",
                     "--batch-size", "2", "--output-file", str(dump), "--silent")
        assert result.returncode == 0, result.stderr[-2000:]
        records = [json.loads(line) for line in dump.read_text().splitlines()]
        assert len(records) == 3 and records[2]["gold_label"] in ("positive", "negative")
        dumps.append(str(dump))
    result = cli("visualize", *dumps, "-o", str(tmp_path / "figures"), "--names", "A", "B")
    assert result.returncode == 0, result.stderr[-2000:]
    page = (tmp_path / "figures" / "heatmaps.html").read_text()
    assert page.count('class="heatmap"') == 3 and "gorgeous" in page
    png = tmp_path / "figures" / "heatmaps.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert result.stdout == f"wrote {tmp_path / 'figures' / 'heatmaps.html'} and {png}\n"
    result = cli("visualize", *dumps, "-o", str(tmp_path / "two"), "--max-sentences", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    # The PNG (not the page) shows the first --max-sentences sentences: a shorter figure.
    assert png_height(tmp_path / "two" / "heatmaps.png") < png_height(png)


def test_bad_predict_input_names_the_line_and_skipping_is_opt_in(archive, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('{"sentence": "fine film ."}\n{"sentence": "broken\n{"sentence": "   "}\n{"sentence": "ok ."}\n')
    output = tmp_path / "out.jsonl"
    result = cli("predict", str(archive), str(inputs), "--predictor", "attention_saliency", "--output-file", str(output), "--silent")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {inputs}: input line 2: malformed JSON")
    assert "Traceback" not in result.stderr and result.returncode == 1
    assert not output.exists() and list(tmp_path.iterdir()) == [inputs]  # nothing half-written
    result = cli("predict", str(archive), str(inputs), "--predictor", "attention_saliency", "--output-file",
                 str(output), "--silent", "--predictor-args", '{"skip_invalid": true}')
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r.get("line") for r in records] == [None, 2, 3, None]
    assert "malformed JSON" in records[1]["error"] and "empty sentence" in records[2]["error"]
    assert records[3]["tokens"] == ["ok", "."]


@pytest.mark.parametrize("text", ["", "\n  \n"])
def test_predicting_a_file_without_examples_names_it_and_writes_nothing(archive, tmp_path, text):
    inputs = tmp_path / "empty.jsonl"
    inputs.write_text(text)
    output = tmp_path / "out.jsonl"
    result = cli("predict", str(archive), str(inputs), "--predictor", "attention_saliency", "--output-file", str(output), "--silent")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {inputs}: nothing to predict: it holds no example"
    )
    assert list(tmp_path.iterdir()) == [inputs]


def test_predicting_silently_without_an_output_file_stops_as_allennlp_does(archive, tmp_path):
    result = cli("predict", str(archive), "fixtures/sst/test.txt", "--predictor", "attention_saliency", "--silent")
    assert result.returncode == 0 and result.stdout.splitlines()[-2:] == [
        "--silent specified without --output-file.", "Exiting early because no output will be created."]
    assert '"label"' not in result.stdout  # nothing was predicted


def test_evaluate_reports_the_pearson_agreement(archive, tmp_path):
    output = tmp_path / "metrics.json"
    result = cli("evaluate", str(archive), "fixtures/sst/test.txt", "--output-file", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "pearson: " in result.stderr
    metrics = json.loads(output.read_text())
    # The mean of the per-sentence agreements the predictor gives for the same test instances.
    predictor = Predictor.from_path(str(archive), predictor_name="attention_saliency")
    instances = list(predictor._dataset_reader.read("fixtures/sst/test.txt"))
    agreements = [predictor.predict_instance(instance)["pearson"] for instance in instances]
    assert None not in agreements and metrics["pearson_skipped"] == 0
    assert metrics["pearson"] == pytest.approx(numpy.mean(agreements), abs=1e-6)


def test_the_predictor_freezes_the_model_unless_told_not_to(archive):
    from allennlp.models.archival import load_archive

    from attention_perturb.predictors.attention_saliency import AttentionSaliencyPredictor

    loaded = load_archive(str(archive))
    loaded.model.train()
    AttentionSaliencyPredictor(loaded.model, loaded.dataset_reader)
    assert not loaded.model.training
    loaded.model.train()
    AttentionSaliencyPredictor(loaded.model, loaded.dataset_reader, frozen=False)
    assert loaded.model.training


@pytest.mark.parametrize("line, message", [
    ('   {"sentence": "broken', "malformed JSON"),  # JSON by its first non-blank character, not an SST tree
    ('[1, 2', "malformed JSON"),
    ('[1, 2]', 'expected a JSON object with a "sentence" key'),
    ('{"text": "a fine film ."}', 'expected a JSON object with a "sentence" key'),
])
def test_each_bad_line_is_named_with_its_own_message(predictor, line, message):
    predictor.load_line('{"sentence": "fine ."}')
    with pytest.raises(ValueError) as raised:
        predictor.load_line(line)
    assert str(raised.value).startswith(f"input line 2: {message}")


def test_a_reader_without_a_line_format_takes_json_only(archive):
    from allennlp.common import Params
    from allennlp.data import DatasetReader
    from allennlp.models.archival import load_archive

    from attention_perturb.predictors.attention_saliency import AttentionSaliencyPredictor

    reader = DatasetReader.from_params(Params({"type": "text_classification"}))
    assert not hasattr(reader, "parse_line")
    predictor = AttentionSaliencyPredictor(load_archive(str(archive)).model, reader)
    with pytest.raises(ValueError, match="^input line 1: malformed JSON"):
        predictor.load_line("(3 (2 a) (3 fine))")


def test_a_batch_goes_on_past_an_invalid_input_naming_its_line(archive):
    skipping = Predictor.from_path(str(archive), predictor_name="attention_saliency", skip_invalid=True)
    inputs = [{"sentence": "fine film ."}, {"sentence": "   "}, {"sentence": "ok .", "label": "positive"},
              {"sentence": "", "_line": 7}]
    results = skipping.predict_batch_json(inputs)
    assert "gold_label" not in results[0] and results[0]["tokens"] == ["fine", "film", "."]
    assert results[1]["line"] is None and results[1]["error"].startswith("input line 2: ")  # its place in the batch
    assert results[2]["gold_label"] == "positive" and results[2]["tokens"] == ["ok", "."]
    assert results[3]["line"] == 7 and results[3]["error"].startswith("input line 7: ")  # the file's line
    # A line load_line marked invalid is reported, and the lines after it in the batch are still predicted.
    loaded = [skipping.load_line('{"sentence": "broken'), skipping.load_line('{"sentence": "fine ."}')]
    invalid, valid = skipping.predict_batch_json(loaded)
    assert invalid["line"] == 1 and invalid["error"].startswith("input line 1: malformed JSON")
    assert valid["tokens"] == ["fine", "."]
    stopping = Predictor.from_path(str(archive), predictor_name="attention_saliency")
    with pytest.raises(ValueError, match="^input line 2: "):
        stopping.predict_batch_json(inputs[:2])


def test_labelled_instances_carry_the_predicted_labels_own_index(predictor):
    instance = predictor._json_to_instance({"sentence": "fine film ."})
    vocab = predictor._model.vocab
    for label, index in vocab.get_token_to_index_vocabulary("labels").items():
        (labelled,) = predictor.predictions_to_labeled_instances(instance, {"label": label})
        assert labelled["label"].label == index
    assert sorted(vocab.get_token_to_index_vocabulary("labels").values()) == [0, 1]


def test_padded_pearson_counts_the_batchs_padding_as_zeros(archive):
    """`pearson_padded` is corrcoef over the batch's padded row (attention and importance are 0 at
    padding); the longest sentence has no padding, so its value is `pearson`'s."""
    predictor = Predictor.from_path(str(archive), predictor_name="attention_saliency",
                                    overrides={"model.padded_agreement": True})
    long, short = predictor.predict_batch_json([{"sentence": "the plot is thin but the acting is wonderful ."},
                                                {"sentence": "a witty film ."}])
    padding = [0.0] * (len(long["attention"]) - len(short["attention"]))
    assert short["pearson_padded"] == pytest.approx(
        numpy.corrcoef(short["attention"] + padding, short["gradient_importance"] + padding)[0, 1], abs=1e-6)
    assert short["pearson_padded"] != pytest.approx(short["pearson"], abs=1e-3)
    assert long["pearson_padded"] == pytest.approx(long["pearson"], abs=1e-9)


def test_predict_prints_each_input_and_prediction_and_stages_its_output_beside_it(archive, tmp_path, monkeypatch):
    # The staging file is renamed onto --output-file: beside it, not in the system's temporary folder
    # (maybe another file system, where the rename would fail), and hidden while it is written.
    inputs = ['{"sentence": "a gorgeous , witty film ."}', '{"sentence": "dull ."}']
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(inputs) + "\n"))
    output = tmp_path / "out" / "predictions.jsonl"
    output.parent.mkdir()
    staged = []
    monkeypatch.setattr(os, "replace", lambda source, target: staged.append(source) or shutil.move(source, target))
    result = cli("predict", str(archive), "-", "--predictor", "attention_saliency", "--output-file", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    written = output.read_text().splitlines()
    assert len(written) == 2 and json.loads(written[1])["tokens"] == ["dull", "."]
    read = [json.dumps({**json.loads(line), "_line": number}) for number, line in enumerate(inputs, start=1)]
    assert result.stdout.splitlines() == [f"input 0:  {read[0]}", f"prediction:  {written[0]}", "",
                                          f"input 1:  {read[1]}", f"prediction:  {written[1]}", ""]
    assert len(staged) == 1 and os.path.dirname(staged[0]) == str(output.parent)
    assert os.path.basename(staged[0]).startswith(".predictions.jsonl.")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["out", "predictions.jsonl"]


def test_predicting_empty_standard_input_names_it(archive, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    result = cli("predict", str(archive), "-", "--predictor", "attention_saliency", "--output-file", str(tmp_path / "o.jsonl"))
    assert result.stderr.strip().splitlines()[-1] == "error: standard input: nothing to predict: it holds no example"
    assert list(tmp_path.iterdir()) == []


def test_predict_passes_its_batch_size_logging_and_reader_flags_to_allennlp(archive, tmp_path, monkeypatch):
    from allennlp.common import logging as common_logging

    from attention_perturb.predictors.attention_saliency import AttentionSaliencyPredictor

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(f'{{"sentence": "film number {n} ."}}\n' for n in range(5)))
    batches = []
    predict_batch_json = AttentionSaliencyPredictor.predict_batch_json
    monkeypatch.setattr(AttentionSaliencyPredictor, "predict_batch_json",
                        lambda self, batch: batches.append(len(batch)) or predict_batch_json(self, batch))
    monkeypatch.setattr(common_logging, "FILE_FRIENDLY_LOGGING", False)
    result = cli("predict", str(archive), str(inputs), "--predictor", "attention_saliency", "--batch-size", "2",
                 "--output-file", str(tmp_path / "out.jsonl"), "--silent", "--file-friendly-logging")
    assert result.returncode == 0, result.stderr[-2000:]
    assert batches == [2, 2, 1] and common_logging.FILE_FRIENDLY_LOGGING is True
    # allennlp's own checks of --multitask-head see whether the dataset reader is used, and the head.
    for flags, refusal in [(["--multitask-head", "a"], "You must use a dataset reader when using --multitask-head."),
                           (["--multitask-head", "a", "--use-dataset-reader"],
                            "--multitask-head only works with a multitask dataset reader.")]:
        result = cli("predict", str(archive), str(inputs), "--predictor", "attention_saliency", *flags)
        assert result.stderr.strip().splitlines()[-1] == f"error: {refusal}"
