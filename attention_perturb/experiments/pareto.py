"""
The robustness table's picture, to be read at a glance: one panel per trade-off, clean test score
on x against a robustness or stability measure on y, one point per method, 95 % confidence
intervals over seeds as error bars on both axes, the Pareto frontier drawn, and every method's label
placed where it overlaps no other label, no point and no axis edge (`place_labels`, a greedy
search over positions around each point, measured with the figure's own renderer).

Panels (`PANELS`): after-attack accuracy of the synonym attack (higher is better), coloured by
attention/gradient Pearson agreement; SEAT's PGD JSD of the attention and PGD TVD of the prediction
(lower is better, log scale), coloured by the attention's normalised entropy, so that a method
whose attention is uniform (entropy 1, which no perturbation moves) cannot pass for a stable one.
On a log axis the point is the geometric mean over seeds and its interval the 95 % CI of the mean
of log10 values; on a linear axis the arithmetic mean and its 95 % CI (Student t).
"""
import math
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple


from attention_perturb.files import write_atomically
from attention_perturb.experiments.statistics import mean_ci
from attention_perturb.errors import SettingError


class Panel(NamedTuple):
    key: str  # the y measure
    label: str
    log: bool
    higher_is_better: bool
    colour_key: str
    colour_label: str


PANELS = {
    "after_attack_accuracy": Panel("after_attack_accuracy", "after-attack accuracy (synonym attack) ↑", False, True,
                                   "pearson", "Pearson (attention vs gradient)"),
    "pgd_jsd": Panel("pgd_jsd", "attention JSD under SEAT's PGD ↓ (log)", True, False,
                     "attention_entropy", "attention entropy (1 = uniform)"),
    "pgd_tvd": Panel("pgd_tvd", "prediction TVD under SEAT's PGD ↓ (log)", True, False,
                     "attention_entropy", "attention entropy (1 = uniform)"),
}
DEFAULT_PANELS = ("after_attack_accuracy", "pgd_jsd", "pgd_tvd")
X_KEY, X_LABEL = "test_score", "clean test score (F1) →"


class Interval(NamedTuple):
    centre: float
    low: float
    high: float
    count: int


def seed_interval(values: Sequence[float], log: bool = False) -> Optional[Interval]:
    """The point and 95 % CI of one method's measure over its seeds: arithmetic mean ± t·s/√n, or
    on a log axis 10^(mean ± t·s/√n) of the log10 values (the geometric mean); the point alone
    for one seed; None without values (or, on a log axis, with a value ≤ 0)."""
    values = [value for value in values if isinstance(value, (int, float)) and not math.isnan(value)]
    if not values or (log and min(values) <= 0):
        return None
    scaled = [math.log10(value) for value in values] if log else list(values)
    estimate = mean_ci(scaled)
    centre, half = estimate.mean, estimate.half_width or 0.0
    low, high = centre - half, centre + half
    if log:
        return Interval(10 ** centre, 10 ** low, 10 ** high, len(values))
    return Interval(centre, low, high, len(values))


def pareto_front(points: Dict[str, Tuple[float, float]], higher_y_is_better: bool = True) -> List[str]:
    """The methods no other method beats on both axes (x: higher is better; y: higher or lower is
    better), in order of x. A method is beaten when another is at least as good on both and better
    on one."""
    def at_least(a: Tuple[float, float], b: Tuple[float, float]) -> bool:
        return a[0] >= b[0] and (a[1] >= b[1] if higher_y_is_better else a[1] <= b[1])

    front = [method for method, point in points.items()
             if not any(at_least(other, point) and other != point for name, other in points.items() if name != method)]
    return sorted(front, key=lambda method: points[method])


# Label positions tried around each point: offsets in points (1/72 inch), nearest first.
OFFSET_RADII = (7, 13, 20, 28, 38, 50, 64, 80, 100)
OFFSET_DIRECTIONS = 24
MARKER_HALF_SIZE = 5.0  # pixels around a point that a label must leave free
LABEL_MARGIN = 2.0  # pixels kept free around each label


def _boxes_overlap(a, b) -> float:
    """Overlapping area of two display-space boxes (x0, y0, x1, y1); 0 when they only touch."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    return width * height if width > 0 and height > 0 else 0.0


def place(text, dx: float, dy: float) -> None:
    """Puts a label at offset (dx, dy) from its point, anchored by the side facing the point, so
    that a long label extends away from it."""
    norm = math.hypot(dx, dy) or 1.0
    text.set_position((dx, dy))
    text.set_horizontalalignment("left" if dx / norm > 0.35 else "right" if dx / norm < -0.35 else "center")
    text.set_verticalalignment("bottom" if dy / norm > 0.35 else "top" if dy / norm < -0.35 else "center")


def box_distance(box, point) -> float:
    """Display distance from a point to a box (0 inside it)."""
    dx = max(box[0] - point[0], 0.0, point[0] - box[2])
    dy = max(box[1] - point[1], 0.0, point[1] - box[3])
    return math.hypot(dx, dy)


AMBIGUITY_MARGIN = 10.0  # pixels by which a label must be nearer its own point than any other


def _box(extent) -> Tuple[float, float, float, float]:
    return (extent.x0, extent.y0, extent.x1, extent.y1)


COINCIDENT_PIXELS = 3.0  # points this close share one label, a name per line


def label_groups(pixels: Dict[str, Tuple[float, float]]) -> Dict[str, List[str]]:
    """{label: its methods}: methods drawn within `COINCIDENT_PIXELS` of the first of a group share
    one label, a name per line, so that no two labels claim one spot."""
    groups: List[List[str]] = []
    for method, point in pixels.items():
        for group in groups:
            if math.dist(pixels[group[0]], point) <= COINCIDENT_PIXELS:
                group.append(method)
                break
        else:
            groups.append([method])
    return {"\n".join(group): group for group in groups}


def place_labels(axes, positions: Dict[str, Tuple[float, float]], fontsize: float = 7.0,
                 obstacles: Sequence[Tuple[float, float, float, float]] = ()) -> Dict[str, Tuple[float, float, float, float]]:
    """Labels each point at its data position with its method's name (methods on the same spot
    share one label, `label_groups`), each label at the first position around its point (nearest
    first, over `OFFSET_RADII` × `OFFSET_DIRECTIONS`, anchored by the side facing the point) that
    overlaps no label placed before it, no point's marker, none of the display boxes `obstacles`
    (a legend) and no axis edge, and that is nearer its own point than any other by
    `AMBIGUITY_MARGIN` pixels, so that no label reads as another point's; if none is free, at the
    position of least cost (overlaps first, then ambiguity). Crowded points are labelled first. A
    label away from its point gets a line to it. Returns {label: its display box (x0, y0, x1, y1)}."""
    figure = axes.figure
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    to_display = axes.transData.transform
    pixels = {method: tuple(to_display(position)) for method, position in positions.items()}
    groups = label_groups(pixels)
    anchors = {label: pixels[methods[0]] for label, methods in groups.items()}
    markers = [(x - MARKER_HALF_SIZE, y - MARKER_HALF_SIZE, x + MARKER_HALF_SIZE, y + MARKER_HALF_SIZE)
               for x, y in pixels.values()] + list(obstacles)
    frame = _box(axes.get_window_extent(renderer))

    def crowding(label: str) -> float:
        x, y = anchors[label]
        return -sum(1.0 / (1.0 + math.hypot(x - ox, y - oy)) for other, (ox, oy) in anchors.items() if other != label)

    placed: Dict[str, Tuple[float, float, float, float]] = {}
    candidates = [(radius * math.cos(2 * math.pi * k / OFFSET_DIRECTIONS), radius * math.sin(2 * math.pi * k / OFFSET_DIRECTIONS))
                  for radius in OFFSET_RADII for k in range(OFFSET_DIRECTIONS)]
    for label in sorted(groups, key=crowding):
        position = positions[groups[label][0]]
        text = axes.annotate(label, position, xytext=(0, 0), textcoords="offset points", fontsize=fontsize,
                             ha="center", va="center", zorder=4,
                             bbox=dict(boxstyle="square,pad=0.1", facecolor="white", edgecolor="none", alpha=0.8))
        best, best_cost = None, math.inf
        for dx, dy in candidates:
            place(text, dx, dy)
            box = _box(text.get_window_extent(renderer))
            box = (box[0] - LABEL_MARGIN, box[1] - LABEL_MARGIN, box[2] + LABEL_MARGIN, box[3] + LABEL_MARGIN)
            outside = (max(0.0, frame[0] - box[0]) + max(0.0, box[2] - frame[2]) + max(0.0, frame[1] - box[1])
                       + max(0.0, box[3] - frame[3]))
            own = box_distance(box, anchors[label])
            ambiguity = sum(max(0.0, own + AMBIGUITY_MARGIN - box_distance(box, point))
                            for other, point in anchors.items() if other != label)
            # Overlaps and the edge first (area in px², ×1000), then ambiguity (px).
            cost = (1000.0 * (sum(_boxes_overlap(box, other) for other in placed.values())
                              + sum(_boxes_overlap(box, marker) for marker in markers) + 100.0 * outside)
                    + 50.0 * ambiguity)
            if cost == 0:
                best = (dx, dy, box)
                break
            if cost < best_cost:
                best, best_cost = (dx, dy, box), cost
        dx, dy, box = best
        place(text, dx, dy)
        if math.hypot(dx, dy) > OFFSET_RADII[0] * 1.01:
            axes.annotate("", position, xytext=(dx, dy), textcoords="offset points",
                          arrowprops=dict(arrowstyle="-", color="0.25", lw=0.7, shrinkA=0, shrinkB=3), zorder=3)
        placed[label] = box
    return placed


class PanelLayout(NamedTuple):
    points: Dict[str, Tuple[Interval, Interval]]  # method: (x interval, y interval)
    front: List[str]
    labels: Dict[str, Tuple[float, float, float, float]]  # label ("a", or "a\nb" for one spot): display box
    frame: Tuple[float, float, float, float]
    markers: Dict[str, Tuple[float, float]]  # display position of each point


def pareto_figure(rows: Dict[str, Dict[int, Dict[str, float]]], path: str, methods: Optional[Sequence[str]] = None,
                  panels: Sequence[str] = DEFAULT_PANELS, title: Optional[str] = None) -> Dict[str, PanelLayout]:
    """Draws the panels (`PANELS`) of {method: {seed: measures}} into the PNG at `path`, for
    `methods` (default: all, in the rows' order); a panel shows the methods that have both its
    measures. Returns each panel's layout, for checks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(rows) if methods is None else [method for method in methods if method in rows]
    unknown = [panel for panel in panels if panel not in PANELS]
    if unknown:
        raise SettingError("figure", f"unknown panels {unknown}; one of {', '.join(PANELS)}")
    figure, all_axes = plt.subplots(1, len(panels), figsize=(6.8 * len(panels), 5.8), squeeze=False)
    layouts: Dict[str, PanelLayout] = {}
    for axes, name in zip(all_axes[0], panels):
        panel = PANELS[name]
        points: Dict[str, Tuple[Interval, Interval]] = {}
        colours: Dict[str, float] = {}
        for method in methods:
            seeds = rows[method].values()
            x = seed_interval([row.get(X_KEY) for row in seeds])
            y = seed_interval([row.get(panel.key) for row in seeds], log=panel.log)
            if x is not None and y is not None:
                points[method] = (x, y)
                colour = seed_interval([row.get(panel.colour_key) for row in seeds])
                colours[method] = colour.centre if colour is not None else math.nan
        if not points:
            raise SettingError("figure", f"no method has both a test score and {panel.key}")
        for method, (x, y) in points.items():
            axes.errorbar(x.centre, y.centre, xerr=[[x.centre - x.low], [x.high - x.centre]],
                          yerr=[[y.centre - y.low], [y.high - y.centre]], fmt="none", ecolor="0.78", elinewidth=0.8,
                          capsize=2, zorder=1)
        front = pareto_front({method: (x.centre, y.centre) for method, (x, y) in points.items()}, panel.higher_is_better)
        axes.plot([points[method][0].centre for method in front], [points[method][1].centre for method in front],
                  ls="--", color="tab:red", lw=1.0, marker="o", markersize=11, markerfacecolor="none", zorder=1.5,
                  label="Pareto frontier")
        scatter = axes.scatter([x.centre for x, _ in points.values()], [y.centre for _, y in points.values()],
                               c=[colours[method] for method in points], cmap="viridis", s=36, zorder=2,
                               edgecolors="black", linewidths=0.4, plotnonfinite=True)
        figure.colorbar(scatter, ax=axes, label=panel.colour_label, fraction=0.05, pad=0.02)
        if panel.log:
            axes.set_yscale("log")
        _pad_limits(axes, points, panel.log)
        axes.set_xlabel(X_LABEL)
        axes.set_ylabel(panel.label)
        axes.grid(True, which="major", color="0.92", lw=0.6, zorder=0)
        axes.legend(loc="best", fontsize=7, frameon=False)
        layouts[name] = (axes, points, front)
    figure.suptitle(title or "Robustness against clean score: mean (log axes: geometric mean), 95 % CI over seeds",
                    fontsize=10)
    figure.tight_layout()
    result = {}
    for name, (axes, points, front) in layouts.items():
        positions = {method: (x.centre, y.centre) for method, (x, y) in points.items()}
        legend = axes.get_legend()
        figure.canvas.draw()
        obstacles = [_box(legend.get_window_extent(figure.canvas.get_renderer()))] if legend is not None else []
        labels = place_labels(axes, positions, obstacles=obstacles)
        frame = _box(axes.get_window_extent(figure.canvas.get_renderer()))
        markers = {method: tuple(axes.transData.transform(position)) for method, position in positions.items()}
        result[name] = PanelLayout(points, front, labels, frame, markers)
    write_atomically(path, lambda temporary: figure.savefig(temporary, dpi=130, format="png"))
    plt.close(figure)
    return result


def _pad_limits(axes, points: Dict[str, Tuple[Interval, Interval]], log: bool) -> None:
    """Limits that hold every point and interval with room for the labels around them."""
    xs = [value for x, _ in points.values() for value in (x.low, x.high)]
    ys = [value for _, y in points.values() for value in (y.low, y.high)]
    low, high = min(xs), max(xs)
    span = (high - low) or 0.01
    axes.set_xlim(low - 0.18 * span, high + 0.18 * span)
    if log:
        low, high = math.log10(min(ys)), math.log10(max(ys))
        span = (high - low) or 1.0
        axes.set_ylim(10 ** (low - 0.15 * span), 10 ** (high + 0.15 * span))
    else:
        low, high = min(ys), max(ys)
        span = (high - low) or 0.01
        axes.set_ylim(low - 0.15 * span, high + 0.15 * span)
