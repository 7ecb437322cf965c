from typing import Iterator, Tuple

from allennlp.data import DatasetReader

from attention_perturb.data.dataset_readers.pair import ExampleOrProblem, PairReader
from attention_perturb.data.jsonl import read_jsonl

NLI_LABELS = ("entailment", "neutral", "contradiction")
NO_GOLD_LABEL = "-"


@DatasetReader.register("nli")
class NliReader(PairReader):
    """
    SNLI / MultiNLI for the pair model: premise as passage, hypothesis as question, one of
    entailment / neutral / contradiction as label. Reads the raw `*.jsonl` releases
    (`sentence1`, `sentence2`, `gold_label`; pairs without a gold label, `-`, are dropped, as in the
    paper) or the processed `{"passage", "question", "label"}` lines of `allennlp make-dataset`.
    Any other label is an error naming file and line. Parameters as `PairReader`.
    """

    labels = NLI_LABELS

    def examples(self, file_path: str) -> Iterator[Tuple[int, ExampleOrProblem]]:
        for line_number, data in read_jsonl(file_path, ()):
            if isinstance(data, ValueError):
                yield line_number, data
            elif "sentence1" in data:
                if data.get("gold_label") == NO_GOLD_LABEL:
                    continue
                missing = [key for key in ("sentence1", "sentence2", "gold_label") if key not in data]
                yield line_number, ValueError(f"missing key(s) {missing}") if missing else {
                    "passage": data["sentence1"], "question": data["sentence2"], "label": data["gold_label"]
                }
            else:
                missing = [key for key in ("passage", "question", "label") if key not in data]
                yield line_number, ValueError(f"missing key(s) {missing}") if missing else {
                    key: data[key] for key in ("passage", "question", "label")
                }
