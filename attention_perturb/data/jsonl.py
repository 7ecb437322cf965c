import json
from typing import Dict, Iterator, Sequence, Tuple, Union


def read_jsonl(path: str, keys: Sequence[str]) -> Iterator[Tuple[int, Union[Dict, ValueError]]]:
    """(line number, object) for each non-blank JSON line, or (line number, the problem) for a
    malformed line or one missing a key."""
    with open(path, encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                yield line_number, ValueError(f"malformed JSON ({error.msg})")
                continue
            missing = [key for key in keys if not isinstance(data, dict) or key not in data]
            yield line_number, ValueError(f"missing key(s) {missing}") if missing else data
