"""`allennlp serve-compare` through the framework's test client: the answers, their agreement with
the `attention_saliency` predictor, batching, bad input and the command's start-up errors."""
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.predictors import Predictor
from fastapi.testclient import TestClient

from attention_perturb.errors import EmptyDatasetError, SettingError
from attention_perturb.serve.app import create_app
from attention_perturb.serve.batching import MicroBatcher
from attention_perturb.serve.browser import serve_compare_process
from attention_perturb.serve.comparison import Comparison, ModelComparison, loaded_model, read_examples
from attention_perturb.serve.server import is_loopback
from tests.archives import archive_without_attention, train_tiny  # noqa: F401  (a fixture)
from tests.cli import in_process, last_line

MEASURES = ["gradient_x_input", "gradient_x_input_detached", "gradient_norm", "gradient_norm_detached",
            "leave_one_out", "integrated_gradients", "integrated_gradients_detached"]
TITLES = {"gradient_x_input": "gradient × input (the paper's)",
          "gradient_x_input_detached": "gradient × input, attention detached", "gradient_norm": "gradient norm",
          "gradient_norm_detached": "gradient norm, attention detached", "leave_one_out": "leave one out",
          "integrated_gradients": "integrated gradients",
          "integrated_gradients_detached": "integrated gradients, attention detached"}
TEXT = "a gorgeous , witty film about mary , who went to the kitchen ."
QUESTION = "where is mary ?"


def page_config(html):
    """The configuration the page's script reads, as the server wrote it into the page."""
    return json.loads(re.search(r"const CONFIG = (.*);\n", html).group(1))


def measure_overrides(measure):
    """`--overrides` of `allennlp predict` for a measure, written out here rather than taken from the server."""
    if measure == "gradient_x_input":
        return {"model.agreement_measures": []}
    spec = {"type": measure.replace("_detached", "")}
    if measure.endswith("_detached"):
        spec["detach_attention"] = True
    return {"model.agreement_measures": [spec]}


def measure_keys(measure):
    if measure == "gradient_x_input":
        return "gradient_importance", "pearson", "kendall_tau", "top5"
    return f"importance_{measure}", f"pearson_{measure}", f"kendall_{measure}", f"top5_{measure}"


def assert_same_record(served, predicted, agreement_tolerance=1e-6):
    """Equal records: the same keys, tokens and labels, and numbers within float32 rounding
    (`agreement_tolerance` for the scalar agreements)."""
    assert served.keys() == predicted.keys()
    for key, value in predicted.items():
        if isinstance(value, float):
            assert served[key] == pytest.approx(value, abs=agreement_tolerance), key
        elif isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], float)):
            assert served[key] == pytest.approx(value, abs=1e-6), key
        else:
            assert served[key] == value, key


@pytest.fixture(scope="module")
def comparison(compared_archives):
    return ModelComparison(list(compared_archives.values()), max_words=40)


@pytest.fixture(scope="module")
def client(comparison):
    with TestClient(create_app(comparison)) as client:
        yield client


@pytest.mark.parametrize("measure", MEASURES)
def test_one_request_answers_every_model_with_the_numbers_predict_gives(compared_archives, client, measure):
    response = client.post("/api/compare", json={"text": TEXT, "question": QUESTION, "measure": measure})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert [model["name"] for model in answer["models"]] == ["vanilla", "iat", "babi"]
    assert {key: value for key, value in answer.items() if key != "models"} == {
        "text": TEXT, "question": QUESTION, "measure": measure, "measure_title": TITLES[measure], "notices": []}
    for model in answer["models"]:
        pair = model["name"] == "babi"
        assert (model["archive"], model["model_type"]) == (
            compared_archives[model["name"]], "AttentionPairClassifier" if pair else "AttentionClassifier")
        predict_input = {"passage": TEXT, "question": QUESTION} if pair else {"sentence": TEXT}
        # What `allennlp predict ARCHIVE INPUT --predictor attention_saliency --overrides ...` runs.
        predictor = Predictor.from_path(compared_archives[model["name"]], predictor_name="attention_saliency",
                                        overrides=measure_overrides(measure))
        predicted = predictor.predict_json(predict_input)
        assert model["error"] is None and model["predict_input"] == predict_input
        assert json.loads(model["predict_overrides"]) == measure_overrides(measure)
        assert_same_record(model["prediction"], predicted)
        importance, pearson, kendall, top5 = measure_keys(measure)
        assert_same_record(model["measure"], {
            "name": measure, "importance": predicted[importance], "pearson": predicted[pearson],
            "kendall_tau": predicted[kendall], "top_k": predicted[top5], "k": 5})
        assert len(model["measure"]["importance"]) == len(TEXT.split()) == len(model["unknown_tokens"])
    # The GET of a permalink's JSON is the same request.
    query = client.get("/api/compare", params={"text": TEXT, "question": QUESTION, "measure": measure})
    assert query.json() == answer


def test_requests_answered_together_get_the_answers_they_get_alone(comparison):
    requests = [Comparison("dull , flat and far too long .", measure="gradient_norm"),
                Comparison(TEXT, QUESTION, measure="leave_one_out"),
                Comparison("a fine , witty film .", QUESTION, measure="gradient_norm")]
    together = comparison.compare(requests)
    for request, answer in zip(requests, together):
        (alone,) = comparison.compare([request])
        for model_together, model_alone in zip(answer["models"], alone["models"]):
            if model_alone["prediction"] is None:
                assert model_together["error"] == model_alone["error"]  # the pair model without a question
            else:
                # The tiny models' attention is nearly uniform (sd ~0.001): a weight that differs by
                # one float32 ulp with the batch's size (BLAS rounding) moves Pearson by ~1e-6.
                assert_same_record(model_together["prediction"], model_alone["prediction"], agreement_tolerance=1e-4)
    assert together[0]["models"][2]["error"] == "a pair model needs a passage and a question: the question is empty"


@pytest.mark.parametrize("max_batch, waiting_count, sizes", [(4, 6, {1: 1, 4: 1, 2: 1}), (None, 70, {1: 1, 64: 1, 6: 1})])
def test_requests_that_arrive_during_a_batch_make_the_next_batch_together(max_batch, waiting_count, sizes):
    """At most `max_batch` (default 64) at a time."""
    release = threading.Event()

    def handle(items):
        release.wait(10)
        return [item * 2 for item in items]

    batcher = MicroBatcher(handle, **({} if max_batch is None else {"max_batch": max_batch}))
    try:
        first = batcher.submit(0)
        while not batcher.batch_sizes:  # the worker has taken the first item and waits in `handle`
            threading.Event().wait(0.01)
        waiting = [batcher.submit(item) for item in range(1, waiting_count + 1)]
        release.set()
        assert [future.result(10) for future in [first, *waiting]] == [2 * item for item in range(waiting_count + 1)]
        assert batcher.batch_sizes == sizes
    finally:
        release.set()
        batcher.close()


def test_a_failing_batch_fails_its_requests_and_the_next_batch_is_answered():
    def handle(items):
        if "bug" in items:
            raise RuntimeError("a bug in a model")
        return items

    batcher = MicroBatcher(handle)
    try:
        with pytest.raises(RuntimeError, match="a bug in a model"):
            batcher.submit("bug").result(10)
        assert batcher.submit("fine").result(10) == "fine"
    finally:
        batcher.close()


@pytest.mark.parametrize("request_kwargs, message", [
    ({"params": {"text": ""}}, "empty text: type a sentence"),
    ({"json": {"text": "  \n "}}, "empty text: type a sentence"),
    ({"content": b'{"text": "caf\xe9"}'}, "the request body is not valid UTF-8 (byte 0xe9 at position 13)"),
    ({"params": None, "url": "/api/compare?text=caf%E9+film"}, "the query's 'text' is not valid UTF-8 (byte 0xe9 at position 3)"),
    ({"content": b'{"text": "unfinished'}, "the request body is not JSON"),
    ({"json": ["a fine film"]}, "expected a JSON object"),
    ({"json": {"sentence": "a fine film"}}, "unknown parameter 'sentence': the parameters are text, question and measure"),
    ({"json": {"text": 3}}, "text must be a string, got int"),
    ({"json": {"text": "fine", "question": ["where"]}}, "question must be a string, got list"),
    ({"json": {"text": "fine", "measure": 1.5}}, "measure must be a string, got float"),
    ({"json": {"question": "where is mary ?"}}, "empty text: type a sentence"),
    ({"params": None, "url": "/api/compare?te%FFxt=a"},
     "a parameter name of the query is not valid UTF-8 (byte 0xff at position 2)"),
    ({"json": {"text": "fine", "measure": "saliency"}}, "unknown measure 'saliency': choose one of gradient_x_input, "),
    ({"params": None, "url": "/api/compare?text=a&text=b"}, "the query gives 'text' twice"),
    ({"content": b" " * (2 * 1024 * 1024 + 1)},
     "the request body has 2,097,153 bytes; the most it may have is 2,097,152"),
])
def test_a_bad_request_gets_a_clear_message_and_the_server_keeps_serving(client, request_kwargs, message):
    url = request_kwargs.pop("url", "/api/compare")
    method = "GET" if "params" in request_kwargs else "POST"
    response = client.request(method, url, **{key: value for key, value in request_kwargs.items() if value is not None})
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert client.get("/api/compare", params={"text": "a fine film ."}).status_code == 200


def test_a_query_is_read_as_browsers_write_it():
    from attention_perturb.serve.app import query_parameters

    assert query_parameters(b"text=1+%2B+1=2&the+measure=gradient_norm&&question=") == {
        "text": "1 + 1=2", "the measure": "gradient_norm", "question": ""}


def test_a_pair_model_given_one_text_says_so_while_the_others_answer(client):
    answer = client.get("/api/compare", params={"text": TEXT}).json()
    vanilla, iat, babi = answer["models"]
    assert babi["prediction"] is None
    assert babi["error"] == "a pair model needs a passage and a question: the question is empty"
    assert vanilla["error"] is None and iat["error"] is None and vanilla["notices"] == []
    with_question = client.get("/api/compare", params={"text": TEXT, "question": QUESTION}).json()
    assert with_question["models"][0]["notices"] == ["a single-text model: it reads the text and ignores the question"]


def test_a_text_of_unknown_words_only_is_answered_with_a_notice(client):
    answer = client.get("/api/compare", params={"text": "zxqv blorft", "question": "qwzz ?"}).json()
    for model in answer["models"]:
        assert model["unknown_tokens"] == [True, True]
        assert model["notices"][-1] == ("no word of this text is in the model's vocabulary: it sees only unknown-word "
                                        "embeddings, so its prediction says nothing about the words")
    known = client.get("/api/compare", params={"text": "zxqv film"}).json()["models"][0]
    assert known["unknown_tokens"] == [True, False] and known["notices"] == []


def test_a_long_text_is_cut_with_a_notice_and_answered_for_what_the_models_read(client):
    words = ("a gorgeous , witty film about mary . " * 700).split()[:5000]
    answer = client.post("/api/compare", json={"text": " ".join(words), "question": QUESTION}).json()
    assert answer["notices"] == ["the text has 5,000 words: the models read its first 40 (serve-compare "
                                 "--max-words), and every number here is for those"]
    cut = client.post("/api/compare", json={"text": " ".join(words[:40]), "question": QUESTION}).json()
    assert cut["notices"] == [] and answer["text"] == cut["text"]
    for model, expected in zip(answer["models"], cut["models"]):
        assert model["prediction"]["tokens"] == words[:40]
        assert_same_record(model["prediction"], expected["prediction"])


def test_a_long_question_is_cut_with_its_own_notice():
    from attention_perturb.serve.comparison import parsed_request

    request = parsed_request({"text": "mary went home .", "question": "where " * 7 + "?"}, max_words=5)
    assert request.question == "where where where where where" and request.text == "mary went home ."
    assert request.notices == ("the question has 8 words: the models read its first 5 (serve-compare --max-words), "
                               "and every number here is for those",)


def test_a_body_of_the_largest_size_allowed_is_read(client):
    from attention_perturb.serve.app import MAX_BODY_BYTES

    body = b'{"text": "a fine film ."}'
    response = client.post("/api/compare", content=body + b" " * (MAX_BODY_BYTES - len(body)))
    assert response.status_code == 200, response.text


def test_the_page_is_self_contained_and_lists_the_examples(compared_archives, tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"sentence": "a <b>fine</b> film .", "label": "positive"}\n\n'
                        '{"passage": "mary went to the kitchen .", "question": "where is mary ?"}\n')
    from attention_perturb.serve.comparison import read_examples

    comparison = ModelComparison([compared_archives["vanilla"], compared_archives["babi"]], names=["A", "B"])
    listed = read_examples(str(examples), comparison)
    assert listed == [{"text": "a <b>fine</b> film .", "question": "", "label": "positive"},
                      {"text": "mary went to the kitchen .", "question": "where is mary ?", "label": None}]
    with TestClient(create_app(comparison, listed)) as client:
        html = client.get("/").text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from the network
    config = page_config(html)
    assert config == {  # what the page's script reads, whole
        "models": [{"name": "A", "archive": compared_archives["vanilla"], "model_type": "AttentionClassifier",
                    "takes_pairs": False},
                   {"name": "B", "archive": compared_archives["babi"], "model_type": "AttentionPairClassifier",
                    "takes_pairs": True}],
        "measures": [{"name": name, "title": title} for name, title in TITLES.items()],
        "default_measure": "gradient_x_input", "takes_pairs": True, "max_words": 300,
        "examples": listed, "example_count": 2,
    }
    assert "<b>" not in html  # the example's markup travels escaped


def test_an_examples_file_with_a_bad_line_is_named(compared_archives, tmp_path):
    from attention_perturb.errors import DatasetFormatError
    from attention_perturb.serve.comparison import read_examples

    comparison = ModelComparison([compared_archives["vanilla"]])
    trees = tmp_path / "trees.txt"
    trees.write_text("(3 (2 fine) (3 film))\n(3 (2 broken)\n")
    with pytest.raises(DatasetFormatError, match=f"^{trees}:2: unbalanced parentheses$"):
        read_examples(str(trees), comparison)
    lines = tmp_path / "lines.jsonl"
    lines.write_text('{"sentence": "fine"}\n{"text": "fine"}\n')
    with pytest.raises(DatasetFormatError, match=f'^{lines}:2: expected a JSON object with "sentence", or "passage" and "question"$'):
        read_examples(str(lines), comparison)


def test_the_command_refuses_what_it_cannot_serve_in_one_line(compared_archives, archive_without_attention, tmp_path):  # noqa: F811
    notes = tmp_path / "notes.tar.gz"
    notes.write_text("not an archive")
    bad_examples = tmp_path / "examples.jsonl"
    bad_examples.write_text('{"sentence": "fine"}\n{"sentence": "broken\n')
    latin1_examples = tmp_path / "latin1.jsonl"
    latin1_examples.write_bytes(b'{"sentence": "fine"}\n{"sentence": "caf\xe9"}\n')
    vanilla = compared_archives["vanilla"]
    for arguments, error in [
        ([str(notes)], f"error: not a model archive: {notes} (ReadError: "),
        ([str(tmp_path / "missing.tar.gz")], f"error: {tmp_path / 'missing.tar.gz'}: no such model archive"),
        ([archive_without_attention], f"error: {archive_without_attention}: serve-compare needs an attention model "
                                      "of this package (attention_classifier, attention_pair_classifier, "
                                      "seat/flat/bat_classifier); this archive holds a BasicClassifier"),
        ([vanilla, vanilla], f"error: {vanilla} is given twice: name each archive once"),
        ([vanilla, compared_archives["iat"], "--names", "A", "A"], "error: --names: 'A' names two archives"),
        ([vanilla, "--names", "A", "B"], "error: --names: 2 names for 1 archives"),
        ([vanilla, "--examples", str(bad_examples)], f"error: {bad_examples}:2: malformed JSON ("),
        ([vanilla, "--examples", str(latin1_examples)], f"error: {latin1_examples}:2: not UTF-8 (invalid continuation byte at byte 17)"),
    ]:
        # At an address that is not this machine's, a case the command wrongly accepted would fail
        # to listen instead of serving for ever.
        result = in_process("serve-compare", *arguments, "--host", "192.0.2.1", check=False)
        assert result.returncode == 1, (arguments, result.stderr[-2000:])
        assert last_line(result).startswith(error), arguments
        assert "Traceback" not in result.stderr


def test_the_command_warns_when_it_would_serve_beyond_this_machine_and_names_a_port_it_cannot_use(compared_archives):
    # 192.0.2.1 (TEST-NET-1) is no address of this machine: nothing is ever served there.
    result = in_process("serve-compare", compared_archives["vanilla"], "--host", "192.0.2.1", "--port", "8000", check=False)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith(("warning:", "error:"))]
    assert lines[0] == ("warning: --host 192.0.2.1: the page and its models answer anyone who can reach this machine "
                        "at that address; there is no authentication")
    assert lines[1] == "error: --host: 192.0.2.1, port 8000: cannot listen there (Cannot assign requested address)"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = in_process("serve-compare", compared_archives["vanilla"], "--port", str(port), check=False)
    assert result.returncode == 1 and "warning:" not in result.stderr
    assert last_line(result) == f"error: --host: 127.0.0.1, port {port}: cannot listen there (Address already in use)"


def test_the_predictor_reads_a_pair_models_lines_and_names_what_they_lack(compared_archives):
    predictor = Predictor.from_path(compared_archives["babi"], predictor_name="attention_saliency")
    line = predictor.load_line(json.dumps({"passage": "mary went to the kitchen .", "question": "where is mary ?"}))
    assert predictor.predict_batch_json([line])[0]["tokens"] == ["mary", "went", "to", "the", "kitchen", "."]
    with pytest.raises(ValueError, match='^input line 2: expected a JSON object with "passage" and "question" keys$'):
        predictor.load_line('{"sentence": "mary went to the kitchen ."}')
    with pytest.raises(ValueError, match="^input line 1: a pair model needs a passage and a question: the question is empty$"):
        predictor.predict_json({"passage": "mary went to the kitchen .", "question": " "})


def test_answers_are_not_held_back_by_nagles_algorithm(comparison):
    """uvicorn writes an answer's head and body separately: with Nagle's algorithm on, the body
    waited for the client's delayed ACK, at least 40 ms on Linux, on every request."""
    import http.client
    import statistics
    import time
    import urllib.parse

    from attention_perturb.serve.server import serving_in_thread

    with serving_in_thread(create_app(comparison)) as url:
        connection = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(url).port, timeout=30)
        seconds = []
        for _ in range(15):
            started = time.perf_counter()
            connection.request("GET", "/api/batches")
            assert connection.getresponse().read() == b"{}"
            seconds.append(time.perf_counter() - started)
        connection.close()
    assert statistics.median(seconds) < 0.03


def test_an_empty_part_of_the_query_is_skipped(client):
    response = client.get("/api/compare?&text=a+fine+film+.&&")
    assert response.status_code == 200
    assert response.json() == client.get("/api/compare", params={"text": "a fine film ."}).json()


def test_examples_beside_an_sst_model_are_trees_or_json_and_beside_a_pair_model_json(compared_archives, tmp_path):
    from attention_perturb.errors import DatasetFormatError

    mixed = tmp_path / "mixed.txt"
    mixed.write_text('(3 (2 fine) (3 film))\n   {"sentence": "an indented line", "label": 1}\n')
    sst = ModelComparison([compared_archives["vanilla"]])
    assert read_examples(str(mixed), sst) == [{"text": "fine film", "question": "", "label": "positive"},
                                              {"text": "an indented line", "question": "", "label": "1"}]
    pair_only = ModelComparison([compared_archives["babi"]])  # its reader has no line format of its own
    lines = tmp_path / "pairs.jsonl"
    lines.write_text('{"passage": "mary went to the kitchen .", "question": "where is mary ?"}\n')
    assert read_examples(str(lines), pair_only) == [
        {"text": "mary went to the kitchen .", "question": "where is mary ?", "label": None}]
    for line in ('[1, 2]', '{"passage": 5, "question": "where is mary ?"}', '{"question": "where is mary ?"}'):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(f'{{"sentence": "fine"}}\n{line}\n')
        with pytest.raises(DatasetFormatError, match=f'^{bad}:2: expected a JSON object with "sentence", or "passage" and "question"$'):
            read_examples(str(bad), sst)


def test_the_app_batches_at_most_max_batch_and_stops_its_batcher_when_it_shuts_down(comparison):
    app = create_app(comparison, max_batch=3)
    batcher = app.state.batcher
    assert batcher._max_batch == 3 and create_app(comparison).state.batcher._max_batch == 64
    with TestClient(app) as client:
        assert client.get("/api/batches").json() == {}
        assert batcher._worker.is_alive()
    assert not batcher._worker.is_alive()  # the application's shutdown closed it


def test_an_examples_file_of_blank_lines_is_refused_by_name(compared_archives, tmp_path):
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n  \n")
    comparison = ModelComparison([compared_archives["vanilla"]])
    with pytest.raises(EmptyDatasetError, match=f"^{re.escape(str(blank))}: no examples: the file holds no non-blank line$"):
        read_examples(str(blank), comparison)


def test_models_run_side_by_side_on_as_many_threads_as_asked_and_there_are_models(compared_archives):
    archives = list(compared_archives.values())
    threads = {workers: ModelComparison(archives, workers=workers)._workers._max_workers for workers in (0, 2, 5)}
    assert threads == {0: 1, 2: 2, 5: 3} and ModelComparison(archives)._workers._max_workers == 1
    comparison = ModelComparison(archives, workers=3)
    comparison.compare([Comparison("a fine film .", QUESTION)])
    names = {thread.name for thread in threading.enumerate()}
    assert any(name.startswith("serve-compare-model") for name in names), names


def test_each_model_is_loaded_on_the_device_asked(compared_archives):
    import torch

    from tests.devices import on_the_first_gpu

    for load in (lambda: ModelComparison([compared_archives["vanilla"]], cuda_device=0).models[0],
                 lambda: loaded_model(compared_archives["vanilla"], "vanilla", cuda_device=0)):
        loaded = on_the_first_gpu(load)
        if loaded:
            assert next(loaded.model.parameters()).device == torch.device("cuda", 0)


def test_archives_in_folders_of_one_name_are_shown_by_their_paths():
    from attention_perturb.serve.comparison import display_names

    assert display_names(["runs/a/model.tar.gz", "runs/b/model.tar.gz"], None) == ["a", "b"]
    assert display_names(["x/seed1/model.tar.gz", "y/seed1/model.tar.gz", "y/seed2/model.tar.gz"], None) == [
        "x/seed1/model.tar.gz", "y/seed1/model.tar.gz", "seed2"]
    assert display_names(["runs/a/model.tar.gz", "runs/b/model.tar.gz"], ["A", "B"]) == ["A", "B"]


def test_the_page_offers_no_api_documentation(comparison):
    with TestClient(create_app(comparison)) as client:  # an app of its own, built in this test
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == 404, path


def test_unknown_words_are_looked_up_as_the_models_indexer_reads_them(compared_archives):
    model = loaded_model(compared_archives["vanilla"], "vanilla")
    indexer = model.predictor._dataset_reader._token_indexers["tokens"]
    assert (indexer.namespace, indexer.lowercase_tokens) == ("tokens", False)
    assert model.unknown_tokens(["film", "FILM", "zzzqqq"]) == [False, True, True]
    indexer.lowercase_tokens = True  # a model whose indexer lower-cases
    assert model.unknown_tokens(["film", "FILM", "zzzqqq"]) == [False, False, True]
    indexer.namespace = "labels"  # and reads another namespace
    assert model.unknown_tokens(["positive", "film"]) == [False, True]


def test_a_comparison_needs_an_archive_and_room_for_a_word(compared_archives):
    with pytest.raises(ConfigurationError, match="^serve-compare needs at least one model archive$"):
        ModelComparison([])
    with pytest.raises(SettingError) as raised:
        ModelComparison([compared_archives["vanilla"]], max_words=0)
    assert raised.value.setting == "max_words" and str(raised.value) == "max_words: must be at least 1, got 0"
    assert ModelComparison([compared_archives["vanilla"]], max_words=1).max_words == 1


@pytest.mark.parametrize("host, loopback", [
    ("localhost", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
    ("0.0.0.0", False), ("192.0.2.1", False), ("::", False), ("example.org", False), ("localhost.example.org", False),
])
def test_only_this_machines_own_addresses_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_a_measure_the_archive_configures_is_served_as_configured(tmp_path):
    """The archive's own measure object and spec (7 integrated-gradient steps); the others as served by default."""
    spec = {"type": "integrated_gradients", "steps": 7}
    archive = train_tiny(tmp_path / "steps", overrides={"model.agreement_measures": [spec]})
    model = loaded_model(archive, "steps")
    assert model.measures["integrated_gradients"].steps == 7 and model.measure_specs["integrated_gradients"] == [spec]
    assert model.measures["integrated_gradients"] is model.model.agreement_measures[0]
    assert model.measures["integrated_gradients_detached"].steps == 20
    assert model.measure_specs["leave_one_out"] == [{"type": "leave_one_out"}] and model.measure_specs["gradient_x_input"] == []


def test_a_command_that_exits_before_serving_is_reported_with_its_stderr(tmp_path):
    missing = str(tmp_path / "missing.tar.gz")
    with pytest.raises(RuntimeError, match=r"^serve-compare exited \(1\) before serving:\n(.|\n)*no such model archive"):
        with serve_compare_process([missing]):
            pass


def serving_in_this_process(arguments, ask):
    """`allennlp serve-compare ARGUMENTS` run in this process (its main thread, as a user's), while
    another thread waits for its page, calls `ask(base_url)` and then stops it as Ctrl-C does;
    returns the command's result, what `ask` returned and the base URL. A command that ends before serving ends
    the wait."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    base_url, answered, ended = f"http://127.0.0.1:{port}", {}, threading.Event()

    def client():
        deadline = time.monotonic() + 120
        while not ended.is_set() and time.monotonic() < deadline:
            try:
                urllib.request.urlopen(base_url + "/", timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            return
        try:
            answered["value"] = ask(base_url)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler (uvicorn's) in the main thread

    asker = threading.Thread(target=client)
    asker.start()
    threads = torch.get_num_threads()
    # Ctrl-C's handler as in a user's interpreter, which uvicorn restores and calls again once it has
    # stopped: a process started in the background (as CI's and mutmut's can be) ignores SIGINT.
    handler = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        result = in_process("serve-compare", *arguments, "--port", str(port), check=False)
    finally:
        signal.signal(signal.SIGINT, handler)
        ended.set()
        asker.join()
        torch.set_num_threads(threads)
    return result, answered.get("value"), base_url


def test_the_command_in_this_process_serves_its_models_names_examples_and_threads_until_ctrl_c(compared_archives, tmp_path):
    examples = tmp_path / "examples.jsonl"
    examples.write_text('{"sentence": "a fine film .", "label": "1"}\n{"sentence": "a dull film ."}\n')
    archives = [compared_archives["vanilla"], compared_archives["iat"], compared_archives["babi"]]

    def ask(base_url):
        page = urllib.request.urlopen(base_url + "/").read().decode()
        config = page_config(page)
        started = {thread.ident for thread in threading.enumerate() if thread.name.startswith("serve-compare-model")}
        query = urllib.parse.urlencode({"text": "a fine film about mary , who went to the kitchen .", "question": QUESTION})
        answer = json.loads(urllib.request.urlopen(f"{base_url}/api/compare?{query}").read())
        models_threads = {thread.ident for thread in threading.enumerate()
                          if thread.name.startswith("serve-compare-model")} - started
        # The start-up line is flushed before the page serves: a pipe or a log read meanwhile shows it.
        return config, answer, len(models_threads), torch.get_num_threads(), sys.stdout.flushed

    result, (config, answer, models_threads, torch_threads, flushed), base_url = serving_in_this_process(
        [*archives, "--names", "plain", "iat", "qa", "--examples", examples, "--max-words", "5", "--threads", "2"], ask)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == flushed == f"serving 3 model(s) at {base_url}/ (Ctrl-C stops)\n"
    assert result.stderr.rstrip().splitlines()[-1] == "stopped" and "warning:" not in result.stderr
    assert [model["name"] for model in config["models"]] == ["plain", "iat", "qa"]
    assert config["example_count"] == 2 and [e["text"] for e in config["examples"]] == ["a fine film .", "a dull film ."]
    assert config["max_words"] == 5
    assert [model["name"] for model in answer["models"]] == ["plain", "iat", "qa"]
    assert answer["notices"][0].startswith("the text has 12 words: the models read its first 5 ")
    assert models_threads == 2  # --threads: the three models run on two threads
    assert torch_threads == 1  # each model's operations on one thread


def test_the_command_loads_its_models_on_the_device_asked(compared_archives):
    from tests.devices import on_the_first_gpu

    def serve_on_the_first_gpu():
        result, devices, _ = serving_in_this_process([compared_archives["vanilla"], "--cuda-device", "0"],
                                                  lambda base_url: "served")
        if devices is None:  # torch's refusal, which the package's commands leave a traceback
            refusal = last_line(result)
            if not re.match(r"(RuntimeError|AssertionError): .*(CUDA|NVIDIA)", refusal):
                pytest.fail(f"serve-compare --cuda-device 0 failed otherwise: {result.stderr[-2000:]}")
            raise RuntimeError(refusal)
        return result

    on_the_first_gpu(serve_on_the_first_gpu)
