"""Trained attention models answering the same text together: what `allennlp serve-compare` serves."""
import json
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.common.util import JsonDict
from allennlp.predictors import Predictor

from attention_perturb.archives import load_model_archive
from attention_perturb.errors import DatasetFormatError, EmptyDatasetError, SettingError
from attention_perturb.interpret.word_importance import WordImportance
from attention_perturb.models.adversarial import AdversarialAttentionModel
from attention_perturb.predictors.attention_saliency import AttentionSaliencyPredictor

DEFAULT_MEASURE = "gradient_x_input"
# Every importance measure of the package (interpret/word_importance/), by the name its outputs
# carry. None: the predictor's own `gradient_importance`, which every prediction computes.
MEASURE_SPECS: Dict[str, Optional[Dict[str, Any]]] = {
    "gradient_x_input": None,
    "gradient_x_input_detached": {"type": "gradient_x_input", "detach_attention": True},
    "gradient_norm": {"type": "gradient_norm"},
    "gradient_norm_detached": {"type": "gradient_norm", "detach_attention": True},
    "leave_one_out": {"type": "leave_one_out"},
    "integrated_gradients": {"type": "integrated_gradients"},
    "integrated_gradients_detached": {"type": "integrated_gradients", "detach_attention": True},
}
MEASURE_TITLES = {
    "gradient_x_input": "gradient × input (the paper's)",
    "gradient_x_input_detached": "gradient × input, attention detached",
    "gradient_norm": "gradient norm",
    "gradient_norm_detached": "gradient norm, attention detached",
    "leave_one_out": "leave one out",
    "integrated_gradients": "integrated gradients",
    "integrated_gradients_detached": "integrated gradients, attention detached",
}


class BadRequest(ValueError):
    """A request the models cannot answer; its message says why, for the person who sent it."""


@dataclass(frozen=True)
class Comparison:
    """One request: the text (a sentence, or a pair model's passage), a pair model's question,
    the importance measure, and notices about the input (e.g. that it was cut)."""

    text: str
    question: str = ""
    measure: str = DEFAULT_MEASURE
    notices: Sequence[str] = ()


def first_words(text: str, max_words: int, what: str) -> Tuple[str, List[str]]:
    """`text`, or its first `max_words` words joined by spaces and a notice saying so."""
    words = text.split()
    if len(words) <= max_words:
        return text, []
    return " ".join(words[:max_words]), [
        f"the {what} has {len(words):,} words: the models read its first {max_words:,} "
        f"(serve-compare --max-words), and every number here is for those"
    ]


def parsed_request(data: Any, max_words: int) -> Comparison:
    """The `Comparison` a request's parameters ask for (`text`, optional `question` and
    `measure`), or `BadRequest` saying what is wrong with them."""
    if not isinstance(data, dict):
        raise BadRequest('expected a JSON object such as {"text": "a fine film", "measure": "gradient_norm"}')
    unknown = sorted(set(data) - {"text", "question", "measure"})
    if unknown:
        raise BadRequest(f"unknown parameter {unknown[0]!r}: the parameters are text, question and measure")
    for key in ("text", "question", "measure"):
        if key in data and not isinstance(data[key], str):
            raise BadRequest(f"{key} must be a string, got {type(data[key]).__name__}")
    text, question = data.get("text", ""), data.get("question", "")
    measure = data.get("measure") or DEFAULT_MEASURE
    if measure not in MEASURE_SPECS:
        raise BadRequest(f"unknown measure {measure!r}: choose one of {', '.join(MEASURE_SPECS)}")
    if not text.strip():
        raise BadRequest("empty text: type a sentence (or, for a pair model, a passage) to compare the models on")
    text, notices = first_words(text, max_words, "text")
    question, question_notices = first_words(question, max_words, "question")
    return Comparison(text, question, measure, tuple(notices + question_notices))


@dataclass
class ComparedModel:
    """One loaded archive: its display name, its `attention_saliency` predictor, and its
    importance measures by name (the archive's own where its config names one, else the
    measure's defaults)."""

    name: str
    archive_file: str
    predictor: AttentionSaliencyPredictor
    measures: Dict[str, Optional[WordImportance]]
    measure_specs: Dict[str, List[Dict[str, Any]]]

    @property
    def model(self) -> AdversarialAttentionModel:
        return self.predictor._model  # type: ignore

    @property
    def takes_pairs(self) -> bool:
        return self.predictor.input_keys == ("passage", "question")

    def predict_input(self, comparison: Comparison) -> JsonDict:
        """What `allennlp predict --predictor attention_saliency` reads for this request."""
        if self.takes_pairs:
            return {"passage": comparison.text, "question": comparison.question}
        return {"sentence": comparison.text}

    def predict_overrides(self, measure: str) -> str:
        """The `--overrides` under which `allennlp predict` gives this page's numbers for `measure`."""
        return json.dumps({"model.agreement_measures": self.measure_specs[measure]})

    def unknown_tokens(self, tokens: Sequence[str]) -> List[bool]:
        """Which tokens the model's vocabulary lacks (it embeds them as @@UNKNOWN@@)."""
        indexer = self.predictor._dataset_reader._token_indexers["tokens"]  # a SingleIdTokenIndexer in every reader here
        vocabulary = self.model.vocab.get_token_to_index_vocabulary(indexer.namespace)
        return [(token.lower() if indexer.lowercase_tokens else token) not in vocabulary for token in tokens]


def loaded_model(archive_file: str, name: str, cuda_device: int = -1) -> ComparedModel:
    """An archive's model and predictor, or a one-line error naming the file."""
    if not os.path.isfile(archive_file):
        raise FileNotFoundError(f"{archive_file}: no such model archive")
    archive = load_model_archive(archive_file, cuda_device=cuda_device)
    if not isinstance(archive.model, AdversarialAttentionModel):
        raise ConfigurationError(
            f"{archive_file}: serve-compare needs an attention model of this package (attention_classifier, "
            f"attention_pair_classifier, seat/flat/bat_classifier); this archive holds a {type(archive.model).__name__}"
        )
    predictor = Predictor.from_archive(archive, "attention_saliency")
    configured = {measure.name: measure for measure in archive.model.agreement_measures}
    configured_specs = {
        measure.name: spec
        for measure, spec in zip(archive.model.agreement_measures,
                                 archive.config.get("model").as_dict().get("agreement_measures") or [])
    }
    measures: Dict[str, Optional[WordImportance]] = {}
    specs: Dict[str, List[Dict[str, Any]]] = {}
    for measure_name, spec in MEASURE_SPECS.items():
        if spec is None:
            measures[measure_name], specs[measure_name] = None, []
        elif measure_name in configured:
            measures[measure_name] = configured[measure_name]
            specs[measure_name] = [configured_specs[measure_name]]
        else:
            measures[measure_name] = WordImportance.from_params(Params(dict(spec)))
            specs[measure_name] = [spec]
    return ComparedModel(name, archive_file, predictor, measures, specs)  # type: ignore


def display_names(archive_files: Sequence[str], names: Optional[Sequence[str]]) -> List[str]:
    """`--names`, or each archive's folder name (its path where two folders share a name)."""
    if names is not None:
        if len(names) != len(archive_files):
            raise SettingError("names", f"{len(names)} names for {len(archive_files)} archives")
        repeated = [name for name, count in Counter(names).items() if count > 1]
        if repeated:
            raise SettingError("names", f"{repeated[0]!r} names two archives; give each its own name")
        return list(names)
    repeated = [path for path, count in Counter(map(os.path.abspath, archive_files)).items() if count > 1]
    if repeated:
        raise ConfigurationError(f"{repeated[0]} is given twice: name each archive once")
    folders = [os.path.basename(os.path.dirname(os.path.abspath(path))) or path for path in archive_files]
    counts = Counter(folders)
    return [folder if counts[folder] == 1 else path for folder, path in zip(folders, archive_files)]


class ModelComparison:
    """
    Trained attention models, loaded once from their archives, that answer each request together:
    for every model, the `attention_saliency` predictor's output for the request's text (label,
    probabilities, attention, gradient × input importance and its agreements, and the chosen
    measure's importance and agreements) — the numbers `allennlp predict ARCHIVE INPUT --predictor
    attention_saliency --overrides '{"model.agreement_measures": [MEASURE]}'` writes for it.

    `compare` answers a batch of requests with one pass per model and measure, the models side by
    side on `workers` threads (torch releases the GIL in its kernels). It is not thread-safe (it
    sets each model's measure for its pass): call it from one thread at a time.

    # Parameters

    archive_files : `Sequence[str]`
    names : `Sequence[str]`, optional (default = each archive's folder name)
    max_words : `int`, optional (default = `300`)
        Longer texts are cut to their first `max_words` words, with a notice: leave-one-out runs
        one variant per word, and Kendall τ compares every pair of words.
    cuda_device : `int`, optional (default = `-1`)
    workers : `int`, optional (default = `1`)
    """

    def __init__(self, archive_files: Sequence[str], names: Optional[Sequence[str]] = None, max_words: int = 300,
                 cuda_device: int = -1, workers: int = 1) -> None:
        if not archive_files:
            raise ConfigurationError("serve-compare needs at least one model archive")
        if max_words < 1:
            raise SettingError("max_words", f"must be at least 1, got {max_words}")
        self.max_words = max_words
        self.models = [
            loaded_model(path, name, cuda_device) for path, name in zip(archive_files, display_names(archive_files, names))
        ]
        self._workers = ThreadPoolExecutor(max_workers=max(1, min(workers, len(self.models))),
                                           thread_name_prefix="serve-compare-model")

    @property
    def takes_pairs(self) -> bool:
        return any(model.takes_pairs for model in self.models)

    def request(self, data: Any) -> Comparison:
        return parsed_request(data, self.max_words)

    def compare(self, comparisons: Sequence[Comparison]) -> List[JsonDict]:
        """Each request's answer (see `answer`); requests of one measure share a pass per model,
        and the models run side by side on `workers` threads."""
        per_model = list(self._workers.map(lambda model: self.model_answers(model, comparisons), self.models))
        return [self.answer(comparison, [answers[index] for answers in per_model])
                for index, comparison in enumerate(comparisons)]

    def model_answers(self, model: ComparedModel, comparisons: Sequence[Comparison]) -> List[JsonDict]:
        """One model's answers to the requests, a pass per measure."""
        answers: List[Optional[JsonDict]] = [None] * len(comparisons)
        for measure in dict.fromkeys(comparison.measure for comparison in comparisons):
            positions = [index for index, comparison in enumerate(comparisons) if comparison.measure == measure]
            model.model.use_agreement_measures([m for m in [model.measures[measure]] if m is not None])
            outputs = model.predictor.explain_batch_json([model.predict_input(comparisons[i]) for i in positions])
            for position, output in zip(positions, outputs):
                answers[position] = self.model_answer(model, comparisons[position], output)
        return answers  # type: ignore

    def answer(self, comparison: Comparison, models: List[JsonDict]) -> JsonDict:
        return {
            "text": comparison.text, "question": comparison.question, "measure": comparison.measure,
            "measure_title": MEASURE_TITLES[comparison.measure], "notices": list(comparison.notices), "models": models,
        }

    def model_answer(self, model: ComparedModel, comparison: Comparison, output: Any) -> JsonDict:
        """One model's part of an answer: the predictor's output as `allennlp predict` writes it
        (`prediction`), the chosen measure's importance and agreements pulled out of it
        (`measure`), which tokens the model does not know, notices, and the `predict` input and
        overrides that give the same numbers; or `error`, why this model cannot answer."""
        answer: JsonDict = {
            "name": model.name, "archive": model.archive_file, "model_type": type(model.model).__name__,
            "predict_input": model.predict_input(comparison), "predict_overrides": model.predict_overrides(comparison.measure),
            "notices": [],
        }
        if isinstance(output, ValueError):
            return {**answer, "error": str(output), "prediction": None}
        if not model.takes_pairs and comparison.question.strip():
            answer["notices"].append("a single-text model: it reads the text and ignores the question")
        k = model.model.agreement_top_k
        name = comparison.measure
        keys = (("gradient_importance", "pearson", "kendall_tau", f"top{k}") if MEASURE_SPECS[name] is None
                else (f"importance_{name}", f"pearson_{name}", f"kendall_{name}", f"top{k}_{name}"))
        unknown = model.unknown_tokens(output["tokens"])
        if all(unknown):
            answer["notices"].append(
                "no word of this text is in the model's vocabulary: it sees only unknown-word embeddings, "
                "so its prediction says nothing about the words")
        answer.update(
            error=None, prediction=output, unknown_tokens=unknown,
            measure={"name": name, "importance": output[keys[0]], "pearson": output[keys[1]],
                     "kendall_tau": output[keys[2]], "top_k": output[keys[3]], "k": k},
        )
        return answer

    def describe(self) -> JsonDict:
        """What the page needs to draw its form: the models and the measures."""
        return {
            "models": [{"name": m.name, "archive": m.archive_file, "model_type": type(m.model).__name__,
                        "takes_pairs": m.takes_pairs} for m in self.models],
            "measures": [{"name": name, "title": MEASURE_TITLES[name]} for name in MEASURE_SPECS],
            "default_measure": DEFAULT_MEASURE,
            "takes_pairs": self.takes_pairs,
            "max_words": self.max_words,
        }


def read_examples(path: str, comparison: ModelComparison) -> List[JsonDict]:
    """
    The examples of `--examples FILE` for the page's picker, as `{"text", "question", "label"}`:
    lines as `allennlp predict` reads them, JSON objects `{"sentence": ...}` or `{"passage": ...,
    "question": ...}` with an optional `"label"`, or a line in the format of a loaded model's
    dataset reader (an SST tree). Blank lines are skipped; a bad line is an error naming it.
    """
    parse_line = next((getattr(m.predictor._dataset_reader, "parse_line") for m in comparison.models
                       if hasattr(m.predictor._dataset_reader, "parse_line")), None)
    examples: List[JsonDict] = []
    with open(path, "rb") as lines:
        for line_number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise DatasetFormatError(path, line_number, f"not UTF-8 ({error.reason} at byte {error.start})") from None
            if not line.strip():
                continue
            try:
                if parse_line is not None and not line.lstrip().startswith(("{", "[")):
                    data = parse_line(line)
                else:
                    data = json.loads(line)
            except json.JSONDecodeError as error:
                raise DatasetFormatError(path, line_number, f"malformed JSON ({error.msg}, column {error.colno})") from None
            except ValueError as error:
                raise DatasetFormatError(path, line_number, str(error)) from None
            if isinstance(data, dict) and isinstance(data.get("sentence"), str):
                text, question = data["sentence"], ""
            elif isinstance(data, dict) and isinstance(data.get("passage"), str) and isinstance(data.get("question"), str):
                text, question = data["passage"], data["question"]
            else:
                raise DatasetFormatError(path, line_number, 'expected a JSON object with "sentence", or "passage" and "question"')
            label = data.get("label")
            examples.append({"text": text, "question": question, "label": None if label is None else str(label)})
    if not examples:
        raise EmptyDatasetError(f"{path}: no examples: the file holds no non-blank line")
    return examples
