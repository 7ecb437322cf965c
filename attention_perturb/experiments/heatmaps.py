"""Figure-3 heatmaps of `allennlp predict --predictor attention_saliency` dumps: one attention row and one
gradient-importance row per model and sentence, as HTML and PNG."""
import html
from pathlib import Path
from typing import Dict, List, Sequence

from attention_perturb.data.jsonl import read_jsonl
from attention_perturb.errors import DatasetFormatError, EmptyDatasetError, SettingError, UsageError
from attention_perturb.files import write_atomically

ROWS = (("attention", "attention"), ("gradient", "gradient_importance"))


def load_dump(path: str) -> List[Dict]:
    records = []
    for line_number, record in read_jsonl(path, ()):
        if isinstance(record, ValueError):
            raise DatasetFormatError(path, line_number, str(record))
        if "error" in record:  # a line the predictor skipped
            continue
        missing = [key for key in ("tokens", "attention", "gradient_importance") if key not in record]
        if missing:
            raise DatasetFormatError(path, line_number, f"not an attention_saliency record (missing {missing})")
        records.append(record)
    if not records:
        raise EmptyDatasetError(f"{path}: no predictions to draw")
    return records


def aligned_dumps(paths: Sequence[str]) -> List[List[Dict]]:
    dumps = [load_dump(path) for path in paths]
    for path, dump in zip(paths[1:], dumps[1:]):
        if [r["tokens"] for r in dump] != [r["tokens"] for r in dumps[0]]:
            raise UsageError(f"{path}: its sentences differ from {paths[0]}; dump the same inputs with each model")
    return dumps


def scaled_to_peak(values: Sequence[float]) -> List[float]:
    """Values divided by the row's largest, so each heatmap row spans the full colour range."""
    peak = max(values, default=0.0)
    return [value / peak if peak > 0 else 0.0 for value in values]


def render_html(names: Sequence[str], dumps: List[List[Dict]]) -> str:
    colours = {"attention": "214,39,40", "gradient": "31,119,180"}
    blocks = []
    for index, records in enumerate(zip(*dumps)):
        rows = []
        for name, record in zip(names, records):
            for row_name, key in ROWS:
                cells = "".join(
                    f'<span class="tok" style="background:rgba({colours[row_name]},{shade:.3f})" '
                    f'title="{value:.4f}">{html.escape(token)}</span>'
                    for token, value, shade in zip(record["tokens"], record[key], scaled_to_peak(record[key]))
                )
                rows.append(
                    f'<tr><th>{html.escape(name)}</th><td class="kind">{row_name}</td><td>{cells}</td></tr>'
                )
            pearson = record.get("pearson")
            rows.append(
                f'<tr class="meta"><td></td><td></td><td>{html.escape(name)}: label {html.escape(str(record.get("label")))}, '
                f'Pearson {"n/a" if pearson is None else f"{pearson:.3f}"}</td></tr>'
            )
        blocks.append(f'<div class="heatmap" id="sentence-{index + 1}"><table>{"".join(rows)}</table></div>')
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Attention and gradient importance</title><style>"
        "body{font-family:sans-serif;margin:1.5em}.heatmap{margin:0 0 1.2em 0;padding:.5em;border-bottom:1px solid #ddd}"
        "th{text-align:left;padding-right:1em;font-weight:600}.kind{color:#555;padding-right:1em}"
        ".tok{display:inline-block;padding:2px 3px;margin:1px;border-radius:2px}.meta td{color:#777;font-size:85%}"
        "</style></head><body><h1>Attention (red) and gradient importance (blue)</h1>"
        + "".join(blocks)
        + "</body></html>"
    )


def render_png(names: Sequence[str], dumps: List[List[Dict]], path: str, max_sentences: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sentences = list(zip(*dumps))[:max_sentences]
    rows_per_sentence = 2 * len(names)
    longest = max(len(records[0]["tokens"]) for records in sentences)
    figure, axes = plt.subplots(
        len(sentences), 1, figsize=(max(6, 0.55 * longest + 2), 0.42 * rows_per_sentence * len(sentences) + 0.5),
        squeeze=False,
    )
    for axis, records in zip(axes[:, 0], sentences):
        tokens = records[0]["tokens"]
        labels, matrix = [], []
        for name, record in zip(names, records):
            for row_name, key in ROWS:
                matrix.append(scaled_to_peak(record[key]))
                labels.append(f"{name} {row_name}")
        axis.imshow(matrix, cmap="Reds", aspect="auto", vmin=0, vmax=1)
        axis.set_yticks(range(len(labels)), labels, fontsize=7)
        axis.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right", fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def visualize(dump_paths: Sequence[str], output_dir: str, names=None, max_sentences: int = 10) -> Dict[str, str]:
    names = list(names or [Path(p).stem for p in dump_paths])
    if len(names) != len(dump_paths):
        raise SettingError("names", f"{len(names)} names for {len(dump_paths)} dumps")
    dumps = aligned_dumps(dump_paths)
    html_path, png_path = Path(output_dir) / "heatmaps.html", Path(output_dir) / "heatmaps.png"
    page = render_html(names, dumps)
    write_atomically(html_path, page)
    write_atomically(png_path, lambda p: render_png(names, dumps, p, max_sentences))
    return {"html": str(html_path), "png": str(png_path)}


