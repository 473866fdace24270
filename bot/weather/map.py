"""A map of Turkey's 81 provinces filled by the day's maximum temperature, drawn as a PNG with matplotlib.

The boundaries (data/turkey-provinces.geojson, © OpenStreetMap contributors, ODbL; see data/NOTICE) are
read and projected once, on first use: a plain equirectangular projection whose longitudes are scaled by
cos(39°), Turkey's middle latitude, so the country keeps its shape. Each province also gets, once, the
point deepest inside it and how deep that is, which decides where its temperature is written and whether
it fits.

Colours come from a fixed scale (2 °C steps from -40 °C to 52 °C, blues through greens and yellows to
reds), so 30 °C looks the same every day; the legend shows the steps of the day's range. A province is
coloured by its temperature as written on it (rounded to a whole degree).

Rendering takes the shared render lock (bot/plotting.py) and is meant to run in a worker thread.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources

import numpy as np
from matplotlib.collections import PathCollection, PolyCollection
from matplotlib.colors import LinearSegmentedColormap, to_hex
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Rectangle
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D, IdentityTransform

from bot.plotting import DPI, FONT, RENDER_LOCK, new_figure, png_bytes

WIDTH, HEIGHT = 1280, 720
CREDITS = "Open-Meteo.com · © OpenStreetMap contributors"
MAP_STYLE = 1  # part of every map's version: change it when the picture changes, so stored file_ids retire

LAT0 = 39.0
_COS_LAT0 = math.cos(math.radians(LAT0))
STEP = 2  # °C per colour
SCALE_MIN, SCALE_MAX = -40, 52
# Anchor colours of the scale; each 2 °C step takes the colour at its middle.
_ANCHORS = (
    (-40, "#2d004b"),
    (-25, "#3f3fa8"),
    (-10, "#2c7fd0"),
    (0, "#8cc8ee"),
    (8, "#a6dbb0"),
    (14, "#d5ec8c"),
    (20, "#fde57a"),
    (26, "#fdb25f"),
    (32, "#f26b3a"),
    (38, "#d0242a"),
    (44, "#8c0d25"),
    (52, "#4a0019"),
)
NO_DATA = "#c8c8c8"
SEA = "#eef3f7"
EDGE = "#ffffff"
HOME_EDGE = "#111111"

_MAP_BOX = (0.012, 0.15, 0.976, 0.74)  # figure fractions: left, bottom, width, height
_MARGIN = 0.12  # projected degrees around the country
_LABEL_POINTS = 10  # font size of the temperatures written on provinces
_LABEL_FITS = 10.5  # pixels: a label goes where a circle of this radius fits inside the province
_LABEL_FONT = FontProperties(family=FONT, weight="bold")
_LABEL_PATHS: dict[str, Path] = {}  # filled under the render lock


def _scale_colours() -> tuple[tuple[int, ...], tuple[str, ...]]:
    low, high = _ANCHORS[0][0], _ANCHORS[-1][0]
    colormap = LinearSegmentedColormap.from_list(
        "newsbot-temperature", [((t - low) / (high - low), colour) for t, colour in _ANCHORS]
    )
    edges = tuple(range(SCALE_MIN, SCALE_MAX + STEP, STEP))
    colours = tuple(to_hex(colormap((edge + STEP / 2 - low) / (high - low))) for edge in edges[:-1])
    return edges, colours


SCALE_EDGES, SCALE_COLOURS = _scale_colours()


def shown_temperature(value: float) -> int:
    """The whole degrees written on the map (half away from zero, as people round)."""
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def scale_step(value: float) -> int:
    """Index of the colour step a temperature falls in (clamped to the scale's ends)."""
    shown = shown_temperature(value)
    return min(max((shown - SCALE_MIN) // STEP, 0), len(SCALE_COLOURS) - 1)


def temperature_colour(value: float | None) -> str:
    """The fill colour ("#rrggbb") of a province with this maximum temperature; grey without one."""
    return NO_DATA if value is None else SCALE_COLOURS[scale_step(value)]


# --- geometry, read and projected once -----------------------------------------------------------------


@dataclass(frozen=True)
class ProvinceShape:
    """One province's projected polygons, the point deepest inside it, and how deep (projected degrees)."""

    plate: int
    name: str
    polygons: tuple[np.ndarray, ...]
    label_at: tuple[float, float]
    depth: float


@dataclass(frozen=True)
class Geometry:
    """All 81 provinces, projected, and the extent of the country."""

    shapes: tuple[ProvinceShape, ...]
    xmin: float
    xmax: float
    ymin: float
    ymax: float


def project(latitude: float, longitude: float) -> tuple[float, float]:
    """Equirectangular projection with longitudes scaled by cos(39°)."""
    return longitude * _COS_LAT0, latitude


_geometry: Geometry | None = None
_geometry_lock = threading.Lock()


def geometry() -> Geometry:
    """The projected provinces, computed on first use (thread-safe) and kept for the process's life."""
    global _geometry
    if _geometry is None:
        with _geometry_lock:
            if _geometry is None:
                _geometry = _load_geometry()
    return _geometry


def _load_geometry() -> Geometry:
    text = resources.files("bot.weather").joinpath("data", "turkey-provinces.geojson").read_text("utf-8")
    shapes = []
    for feature in json.loads(text)["features"]:
        geom = feature["geometry"]
        parts = [geom["coordinates"]] if geom["type"] == "Polygon" else geom["coordinates"]
        polygons = []
        for part in parts:
            ring = np.asarray(part[0], dtype=float)  # the file has no holes; only outer rings are drawn
            polygons.append(np.column_stack((ring[:, 0] * _COS_LAT0, ring[:, 1])))
        label_at, depth = _deepest_point(polygons)
        props = feature["properties"]
        shapes.append(ProvinceShape(int(props["plate"]), props["name"], tuple(polygons), label_at, depth))
    shapes.sort(key=lambda s: s.plate)
    every = np.concatenate([p for s in shapes for p in s.polygons])
    return Geometry(
        tuple(shapes),
        float(every[:, 0].min()),
        float(every[:, 0].max()),
        float(every[:, 1].min()),
        float(every[:, 1].max()),
    )


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2


def _deepest_point(polygons: list[np.ndarray]) -> tuple[tuple[float, float], float]:
    """Roughly the pole of inaccessibility of the largest polygon: a grid search, refined once."""
    polygon = max(polygons, key=_area)
    path = Path(polygon)
    starts = polygon[:-1] if np.array_equal(polygon[0], polygon[-1]) else polygon
    ends = np.roll(starts, -1, axis=0)
    (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
    best, depth = (float(polygon[:, 0].mean()), float(polygon[:, 1].mean())), 0.0
    cell_x, cell_y = (x1 - x0) / 16, (y1 - y0) / 16
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    steps = np.arange(-8, 9)
    for _ in range(3):
        xs, ys = np.meshgrid(centre_x + cell_x * steps, centre_y + cell_y * steps)
        points = np.column_stack((xs.ravel(), ys.ravel()))
        points = points[path.contains_points(points)]
        if len(points):
            distances = _distance_to_edges(points, starts, ends)
            i = int(np.argmax(distances))
            if distances[i] > depth:
                best, depth = (float(points[i, 0]), float(points[i, 1])), float(distances[i])
        centre_x, centre_y = best
        cell_x, cell_y = cell_x / 4, cell_y / 4
    return best, depth


def _distance_to_edges(points: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Each point's distance to the nearest edge of a ring."""
    px, py = points[:, :1], points[:, 1:]
    sx, sy = starts[:, 0], starts[:, 1]
    dx, dy = ends[:, 0] - sx, ends[:, 1] - sy
    t = np.clip(((px - sx) * dx + (py - sy) * dy) / np.maximum(dx * dx + dy * dy, 1e-18), 0.0, 1.0)
    return np.sqrt(((px - sx - t * dx) ** 2 + (py - sy - t * dy) ** 2).min(axis=1))


# --- rendering -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapImage:
    """The PNG and where things ended up in it (pixels from the top left), for tests and checks."""

    png: bytes
    width: int
    height: int
    labelled: frozenset[int]  # provinces whose temperature is written on them
    label_boxes: tuple[tuple[float, float, float, float], ...]  # left, top, right, bottom
    legend_row: int  # a pixel row through the middle of the legend's colours
    transform: tuple[float, float, float, float]  # px = a * x + b, py = c * y + d (projected x, y)

    def pixel(self, latitude: float, longitude: float) -> tuple[int, int]:
        """The pixel (column, row) a place is drawn at."""
        x, y = project(latitude, longitude)
        a, b, c, d = self.transform
        return int(a * x + b), int(c * y + d)


def render_map(day: date, maxima: Mapping[int, float | None], *, home: int | None = None) -> MapImage:
    """Draw the provinces filled by `maxima` (plate -> °C), `home` outlined; blocks: run it in a thread."""
    shapes = geometry().shapes
    with RENDER_LOCK:
        return _render(day, maxima, home, shapes)


def _render(
    day: date, maxima: Mapping[int, float | None], home: int | None, shapes: tuple[ProvinceShape, ...]
) -> MapImage:
    fig = new_figure(WIDTH, HEIGHT)
    fig.patch.set_facecolor("white")
    ax = fig.add_axes(_MAP_BOX)
    ax.set_axis_off()
    ax.patch.set_visible(False)
    fig.add_artist(Rectangle((0, 0.135), 1, 0.77, transform=fig.transFigure, color=SEA, zorder=-1))
    scale = _fit_axes(ax, geometry())

    polygons, colours = [], []
    for shape in shapes:
        colour = temperature_colour(maxima.get(shape.plate))
        for polygon in shape.polygons:
            polygons.append(polygon)
            colours.append(colour)
    ax.add_collection(
        PolyCollection(polygons, facecolors=colours, edgecolors=EDGE, linewidths=0.5, antialiaseds=True)
    )
    by_plate = {shape.plate: shape for shape in shapes}
    if home in by_plate:
        outline = by_plate[home].polygons
        ax.add_collection(PolyCollection(outline, facecolors="none", edgecolors="white", linewidths=4.2))
        ax.add_collection(PolyCollection(outline, facecolors="none", edgecolors=HOME_EDGE, linewidths=2.2))

    labels = _place_labels(ax, shapes, maxima, scale)
    _legend(fig, maxima)
    _titles(fig, day)

    png = png_bytes(fig)
    (ax_x0, ax_y0), (ax_x1, ax_y1) = ax.transData.transform([(0.0, 0.0), (1.0, 1.0)])
    transform = (ax_x1 - ax_x0, ax_x0, -(ax_y1 - ax_y0), HEIGHT - ax_y0)
    a, b, c, d = transform
    boxes = []
    for _, (x, y), path in labels:
        x0, y0, x1, y1 = _extent(path)
        column, row = a * x + b, c * y + d
        boxes.append((column + x0, row - y1, column + x1, row - y0))
    legend_row = round(HEIGHT * (1 - (_LEGEND_Y + _LEGEND_H / 2)))
    return MapImage(
        png, WIDTH, HEIGHT, frozenset(plate for plate, _, _ in labels), tuple(boxes), legend_row, transform
    )


def _fit_axes(ax, geo: Geometry) -> float:
    """Limits that keep the projection's aspect inside the axes box; returns pixels per projected degree."""
    width_px, height_px = _MAP_BOX[2] * WIDTH, _MAP_BOX[3] * HEIGHT
    dx = geo.xmax - geo.xmin + 2 * _MARGIN
    dy = geo.ymax - geo.ymin + 2 * _MARGIN
    scale = min(width_px / dx, height_px / dy)
    cx, cy = (geo.xmin + geo.xmax) / 2, (geo.ymin + geo.ymax) / 2
    ax.set_xlim(cx - width_px / scale / 2, cx + width_px / scale / 2)
    ax.set_ylim(cy - height_px / scale / 2, cy + height_px / scale / 2)
    return scale


def _place_labels(ax, shapes, maxima, scale: float) -> list[tuple[int, tuple[float, float], Path]]:
    """Temperatures on the provinces deep enough for one, deepest first, never overlapping another.

    The labels are glyph outlines (cached per text) in one collection: drawing 80 Text artists costs
    several times more than the rest of the map.
    """
    placed: list[tuple[float, float, float, float]] = []
    labels, offsets, inks = [], [], []
    for shape in sorted(shapes, key=lambda s: -s.depth):
        value = maxima.get(shape.plate)
        if value is None or shape.depth * scale < _LABEL_FITS:
            continue
        path = _label_path(f"{shown_temperature(value)}°")
        x0, y0, x1, y1 = _extent(path)
        x, y = shape.label_at
        box = (x + (x0 - 1) / scale, y + (y0 - 1) / scale, x + (x1 + 1) / scale, y + (y1 + 1) / scale)
        if any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in placed):
            continue
        placed.append(box)
        labels.append((shape.plate, (x, y), path))
        offsets.append((x, y))
        inks.append(_ink(temperature_colour(value)))
    if labels:
        ax.add_collection(
            PathCollection(
                [path for _, _, path in labels],
                offsets=offsets,
                offset_transform=ax.transData,
                transform=IdentityTransform(),  # glyph outlines are in pixels
                facecolors=inks,
                edgecolors="none",
            ),
            autolim=False,
        )
    return labels


def _label_path(label: str) -> Path:
    """The glyph outlines of a label, centred on (0, 0), in pixels."""
    path = _LABEL_PATHS.get(label)
    if path is None:
        raw = TextPath((0, 0), label, size=_LABEL_POINTS * DPI / 72, prop=_LABEL_FONT)
        x0, y0, x1, y1 = _extent(raw)
        path = _LABEL_PATHS[label] = raw.transformed(Affine2D().translate(-(x0 + x1) / 2, -(y0 + y1) / 2))
    return path


def _extent(path: Path) -> tuple[float, float, float, float]:
    """The box around a path's points (Path.get_extents walks every Bézier curve: 20 ms a label)."""
    (x0, y0), (x1, y1) = path.vertices.min(axis=0), path.vertices.max(axis=0)
    return float(x0), float(y0), float(x1), float(y1)


def _ink(colour: str) -> str:
    """Black on light fills, white on dark ones (relative luminance)."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return "#111111" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 else "#ffffff"


_LEGEND_Y, _LEGEND_H = 0.055, 0.04  # figure fractions
_LEGEND_X0, _LEGEND_MAX_W = 0.06, 0.56


def _legend(fig, maxima: Mapping[int, float | None]) -> None:
    """The colour steps of the day's range with their limits in °C, and grey for a missing value."""
    values = [v for v in maxima.values() if v is not None]
    if values:
        first = scale_step(min(values))
        last = scale_step(max(values))
    else:
        first = last = scale_step(20)
    first, last = max(first - 1, 0), min(last + 1, len(SCALE_COLOURS) - 1)
    steps = range(first, last + 1)
    box_w = min(0.05, _LEGEND_MAX_W / len(steps))
    every = 1 if len(steps) <= 14 else 2
    for i, step in enumerate(steps):
        fig.add_artist(
            Rectangle(
                (_LEGEND_X0 + i * box_w, _LEGEND_Y),
                box_w,
                _LEGEND_H,
                transform=fig.transFigure,
                color=SCALE_COLOURS[step],
                lw=0,
            )
        )
    for i in range(0, len(steps) + 1, every):
        x = _LEGEND_X0 + i * box_w
        fig.text(x, _LEGEND_Y - 0.008, f"{SCALE_EDGES[first + i]}", ha="center", va="top", fontsize=9)
    end = _LEGEND_X0 + len(steps) * box_w
    fig.text(end + 0.01, _LEGEND_Y + _LEGEND_H / 2, "°C", ha="left", va="center", fontsize=11)
    if len(values) < len(maxima):
        fig.add_artist(
            Rectangle(
                (end + 0.05, _LEGEND_Y), 0.02, _LEGEND_H, transform=fig.transFigure, color=NO_DATA, lw=0
            )
        )
        fig.text(end + 0.075, _LEGEND_Y + _LEGEND_H / 2, "?", ha="left", va="center", fontsize=11)


def _titles(fig, day: date) -> None:
    fig.text(0.012, 0.965, f"Türkiye  {day:%d.%m.%Y}", ha="left", va="top", fontsize=20, fontweight="bold")
    fig.text(
        0.012,
        0.912,
        "En yüksek sıcaklık · Maximum temperature (°C)",
        ha="left",
        va="top",
        fontsize=12,
        color="#333333",
    )
    fig.text(0.988, 0.02, CREDITS, ha="right", va="bottom", fontsize=10, color="#444444")
