from typing import Iterator, List, Optional, Tuple

from allennlp.data import DatasetReader

from attention_perturb.data.dataset_readers.pair import ExampleOrProblem, PairReader


def babi_examples(path: str) -> Iterator[Tuple[int, ExampleOrProblem]]:
    """
    Questions of a raw bAbI file (`qaN_*_{train,test}.txt`): lines `<n> <sentence>` and
    `<n> <question>\\t<answer>\\t<supporting facts>`, a story restarting at n = 1. The passage of a
    question is every statement of its story before it. A story without any question is a problem,
    reported at its first line (a file that starts inside a story: its first line).
    """
    story: List[str] = []
    story_line: Optional[int] = None
    questions = 0
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            number, _, text = line.strip().partition(" ")
            if not number.isdigit() or not text:
                yield line_number, ValueError("expected '<number> <text>'")
                continue
            if int(number) == 1 or story_line is None:
                if story_line is not None and questions == 0:
                    yield story_line, ValueError("story has no question")
                story, story_line, questions = [], line_number, 0
            if "\t" not in text:
                story.append(text.strip())
                continue
            question, answer = (part.strip() for part in text.split("\t")[:2])
            questions += 1
            if not answer:
                yield line_number, ValueError("question without an answer")
            elif not story:
                yield line_number, ValueError("question before any statement of its story")
            else:
                yield line_number, {"passage": " ".join(story), "question": question, "label": answer}
    if story_line is not None and questions == 0:
        yield story_line, ValueError("story has no question")


@DatasetReader.register("babi_qa")
class BabiReader(PairReader):
    """
    bAbI question answering (Weston et al. 2015) for the pair model: the passage is the story so
    far, the question is the question, the label is the one-word answer (the answer vocabulary is
    the label set). Reads the raw task files directly, or the JSON lines of `allennlp make-dataset
    babi` (`.jsonl`). Parameters as `PairReader`.
    """

    def examples(self, file_path: str) -> Iterator[Tuple[int, ExampleOrProblem]]:
        if file_path.endswith(".jsonl"):
            return super().examples(file_path)
        return babi_examples(file_path)
