"""Figure 3's heatmaps from hand-written `attention_saliency` dumps: which lines are read, each
row scaled to its peak, the page's cells and numbers, and the PNG's size per sentence shown."""
import json
import struct

import pytest

from attention_perturb.errors import DatasetFormatError, EmptyDatasetError, SettingError, UsageError
from attention_perturb.experiments import heatmaps

FIRST = {"tokens": ["a", "<b>", "film"], "attention": [0.25, 0.5, 0.25], "gradient_importance": [0.1, 0.4, 0.2],
         "label": "positive", "pearson": 0.8125}
SECOND = {"tokens": ["dull"], "attention": [1.0], "gradient_importance": [0.0], "label": "negative"}


def dump(path, *records):
    path.write_text("".join(line if isinstance(line, str) else json.dumps(line) + "\n" for line in records))
    return str(path)


def png_size(path):
    with open(path, "rb") as png:
        header = png.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])  # IHDR: width, height


def test_a_dump_keeps_the_predictions_and_skips_the_lines_the_predictor_could_not_answer(tmp_path):
    path = dump(tmp_path / "a.jsonl", FIRST, {"error": "too long"}, "\n", SECOND)
    assert heatmaps.load_dump(path) == [FIRST, SECOND]


@pytest.mark.parametrize("lines, error, message", [
    ([FIRST, "{not json\n"], DatasetFormatError, "{path}:2: malformed JSON"),
    ([FIRST, {"tokens": ["a"], "attention": [1.0]}], DatasetFormatError,
     "{path}:2: not an attention_saliency record (missing ['gradient_importance'])"),
    ([{"error": "too long"}], EmptyDatasetError, "{path}: no predictions to draw"),
])
def test_a_bad_dump_names_its_file_and_line(tmp_path, lines, error, message):
    path = dump(tmp_path / "bad.jsonl", *lines)
    with pytest.raises(error) as raised:
        heatmaps.load_dump(path)
    assert str(raised.value).startswith(message.format(path=path))


def test_dumps_of_other_sentences_are_refused(tmp_path):
    first = dump(tmp_path / "a.jsonl", FIRST, SECOND)
    other = dump(tmp_path / "b.jsonl", FIRST, {**SECOND, "tokens": ["dire"]})
    assert heatmaps.aligned_dumps([first, first]) == [[FIRST, SECOND], [FIRST, SECOND]]
    with pytest.raises(UsageError, match=f"^{other}: its sentences differ from {first}; dump the same inputs"):
        heatmaps.aligned_dumps([first, other])


@pytest.mark.parametrize("values, scaled", [
    ([1.0, 2.0, 4.0], [0.25, 0.5, 1.0]),
    ([0.0, 0.0], [0.0, 0.0]),
    ([-1.0, -2.0], [0.0, 0.0]),  # no positive peak: an empty row
    ([], []),
])
def test_each_row_is_scaled_to_its_peak(values, scaled):
    assert heatmaps.scaled_to_peak(values) == scaled


def test_the_page_has_a_cell_per_token_shaded_by_its_rows_peak(tmp_path):
    page = heatmaps.render_html(["A", "B&C"], [[FIRST, SECOND], [FIRST, SECOND]])
    assert page.count('class="heatmap"') == 2 and 'id="sentence-1"' in page and 'id="sentence-2"' in page
    assert page.count('class="tok"') == 2 * 2 * (3 + 1)  # models × rows × tokens
    assert ('<span class="tok" style="background:rgba(214,39,40,0.500)" title="0.2500">a</span>'
            '<span class="tok" style="background:rgba(214,39,40,1.000)" title="0.5000">&lt;b&gt;</span>') in page
    assert '<span class="tok" style="background:rgba(31,119,180,0.250)" title="0.1000">a</span>' in page
    assert '<tr><th>B&amp;C</th><td class="kind">gradient</td>' in page
    assert "A: label positive, Pearson 0.812</td>" in page and "A: label negative, Pearson n/a</td>" in page
    assert "<b>" not in page


def test_visualize_writes_the_page_and_a_png_of_the_first_sentences(tmp_path):
    first = dump(tmp_path / "vanilla.jsonl", FIRST, SECOND)
    second = dump(tmp_path / "attention_iat.jsonl", FIRST, SECOND)
    written = heatmaps.visualize([first, second], str(tmp_path / "figures"))
    assert written == {"html": str(tmp_path / "figures" / "heatmaps.html"), "png": str(tmp_path / "figures" / "heatmaps.png")}
    page = (tmp_path / "figures" / "heatmaps.html").read_text()
    assert "<th>vanilla</th>" in page and "<th>attention_iat</th>" in page  # named after the dumps
    width, both = png_size(written["png"])
    one = heatmaps.visualize([first, second], str(tmp_path / "one"), names=["V", "I"], max_sentences=1)
    assert "<th>V</th>" in (tmp_path / "one" / "heatmaps.html").read_text()
    # figsize (max(6, 0.55 × longest + 2), 0.42 × rows × sentences + 0.5) inches at 120 dpi
    assert png_size(one["png"]) == (720, int((0.42 * 4 * 1 + 0.5) * 120))  # matplotlib floors
    assert (width, both) == (720, int((0.42 * 4 * 2 + 0.5) * 120))
    with pytest.raises(SettingError, match="^names: 1 names for 2 dumps$"):
        heatmaps.visualize([first, second], str(tmp_path / "never"), names=["V"])
    assert not (tmp_path / "never").exists()


def test_the_pages_style_sheet_styles_each_class_it_uses():
    import re

    page = heatmaps.render_html(["A"], [[FIRST]])
    assert page.startswith("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Attention and gradient "
                           "importance</title><style>") and page.endswith("</table></div></body></html>")
    head, body = page.split("</style></head><body>")
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", head.split("<style>")[1])
    assert "".join(f"{selector}{{{declarations}}}" for selector, declarations in rules) == head.split("<style>")[1]
    assert [selector for selector, _ in rules] == ["body", ".heatmap", "th", ".kind", ".tok", ".meta td"]
    assert all(re.fullmatch(r"([a-z-]+:[^;:]+;)*[a-z-]+:[^;:]+", declarations) for _, declarations in rules)
    assert body.startswith('<h1>Attention (red) and gradient importance (blue)</h1><div class="heatmap" '
                           'id="sentence-1"><table><tr><th>A</th><td class="kind">attention</td><td><span')
    assert body.count("<tr>") + body.count('<tr class="meta">') == body.count("</tr>") == 3


def test_the_png_draws_each_row_scaled_and_labelled_under_its_tokens(tmp_path, kept_figures):
    long = {**FIRST, "tokens": [f"w{index}" for index in range(10)], "attention": [0.1] * 9 + [0.2],
            "gradient_importance": [0.5] + [0.25] * 9}
    heatmaps.render_png(["V", "I"], [[long, FIRST], [long, FIRST]], str(tmp_path / "h.png"), max_sentences=2)
    assert png_size(tmp_path / "h.png") == (900, int((0.42 * 4 * 2 + 0.5) * 120))  # (0.55 × 10 + 2) in × 120 dpi
    (figure,) = kept_figures
    axis = figure.axes[0]
    image = axis.get_images()[0]
    assert image.get_cmap().name == "Reds" and image.get_clim() == (0, 1) and axis.get_aspect() == "auto"
    assert image.get_array()[0].tolist() == pytest.approx([0.5] * 9 + [1.0])  # V attention, scaled to its peak
    assert image.get_array()[1].tolist() == pytest.approx([1.0] + [0.5] * 9)  # V gradient
    assert [label.get_text() for label in axis.get_yticklabels()] == ["V attention", "V gradient", "I attention",
                                                                      "I gradient"]
    ticks = axis.get_xticklabels()
    assert [label.get_text() for label in ticks] == long["tokens"]
    assert {(label.get_rotation(), label.get_horizontalalignment(), label.get_fontsize()) for label in ticks} == {
        (45.0, "right", 7.0)}
    assert {label.get_fontsize() for label in axis.get_yticklabels()} == {7.0}
    assert [label.get_text() for label in figure.axes[1].get_xticklabels()] == FIRST["tokens"]


def test_visualize_draws_ten_sentences_unless_told(tmp_path, monkeypatch):
    drawn = []
    monkeypatch.setattr(heatmaps, "render_png", lambda names, dumps, path, max_sentences: drawn.append(max_sentences))
    heatmaps.visualize([dump(tmp_path / "a.jsonl", FIRST)], str(tmp_path / "figures"))
    assert drawn == [10]
