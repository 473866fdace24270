"""The operators' chart: subscribers over 30 days, sends per hour over 48 hours, broadcasts in progress.

Pure drawing: ChartData in, PNG out, under the shared render lock (bot/plotting.py); run it in a thread.
Nothing here grows with the audience: 30 days, 48 hours and at most a few broadcasts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from bot.plotting import RENDER_LOCK, new_figure, png_bytes
from storage.models import BroadcastStatus

WIDTH, HEIGHT = 1200, 1050
JOINED, LEFT, BLOCKED, ACTIVE = "#2e9e5b", "#f0a030", "#d64040", "#1f4e9a"
SENT, FLOOD, PENDING = "#4f81c7", "#d62728", "#d0d0d0"
NOT_RECORDED = "#f2f2f2"


@dataclass(frozen=True)
class ChartData:
    """Everything the chart shows, already bucketed (Istanbul days and hours, oldest first)."""

    drawn_at: datetime  # Istanbul time
    days: list[date]
    joined: list[int]
    left: list[int]
    blocked: list[int]
    active: list[int]  # active subscribers at the end of each day
    days_recorded_from: int  # index of the first day with recorded events (len(days): none)
    hours: list[datetime]
    sent: list[int]
    flood: list[int]
    hours_recorded_from: int
    broadcasts: list[BroadcastStatus]


def render_chart(data: ChartData, labels: Mapping[str, str]) -> bytes:
    """The three panels as one PNG, texts in the operator's language (`labels`); blocks: use a thread."""
    with RENDER_LOCK:
        return _render(data, labels)


def _render(data: ChartData, labels: Mapping[str, str]) -> bytes:
    fig = new_figure(WIDTH, HEIGHT)
    fig.patch.set_facecolor("white")
    fig.text(
        0.02,
        0.985,
        labels["title"].format(when=f"{data.drawn_at:%d.%m.%Y %H:%M}"),
        va="top",
        fontsize=15,
        fontweight="bold",
    )
    subscribers = fig.add_axes((0.07, 0.61, 0.86, 0.31))
    sends = fig.add_axes((0.07, 0.27, 0.86, 0.25))
    progress = fig.add_axes((0.07, 0.03, 0.86, 0.16))
    _subscribers(subscribers, data, labels)
    _sends(sends, data, labels)
    _progress(progress, data.broadcasts, labels)
    return png_bytes(fig)


def _bars(ax, x: np.ndarray, bottom: np.ndarray, height: np.ndarray, width: float, colour: str) -> None:
    """Bars as one collection: a Rectangle per bar (what Axes.bar makes) costs several times more to draw."""
    left, right = x - width / 2, x + width / 2
    top = bottom + height
    boxes = np.stack(
        [np.column_stack(corner) for corner in ((left, bottom), (left, top), (right, top), (right, bottom))],
        axis=1,
    )
    ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors="none"), autolim=False)


def _not_recorded(ax, upto: int, count: int, labels: Mapping[str, str]) -> None:
    """Grey out the slots before recording started, and say so."""
    if upto <= 0:
        return
    end = min(upto, count) - 0.5
    ax.axvspan(-0.5, end, color=NOT_RECORDED, zorder=0)
    ax.text(
        (end - 0.5) / 2,
        0.9,
        labels["not_recorded"],
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="center",
        fontsize=9,
        color="#777777",
        zorder=5,
    )


def _subscribers(ax, data: ChartData, labels: Mapping[str, str]) -> None:
    x = np.arange(len(data.days), dtype=float)
    joined, left, blocked = (np.array(v, dtype=float) for v in (data.joined, data.left, data.blocked))
    _bars(ax, x, np.zeros_like(x), joined, 0.8, JOINED)
    _bars(ax, x, -left, left, 0.8, LEFT)
    _bars(ax, x, -left - blocked, blocked, 0.8, BLOCKED)
    ax.axhline(0, color="#666666", linewidth=0.6)
    _not_recorded(ax, data.days_recorded_from, len(x), labels)
    ax.set_title(labels["subscribers"], loc="left", fontsize=12)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_xticks(x[::3], [f"{d:%d.%m}" for d in data.days[::3]], fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(6, integer=True))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylabel(labels["per_day"], fontsize=9)
    top = max(1.0, float(joined.max(initial=0)), float((left + blocked).max(initial=0)))
    ax.set_ylim(-top * 1.15, top * 1.35)
    # The audience on the same axes, scaled into its upper part and labelled with its own numbers: a second
    # y axis (twinx) would cost a third of the whole drawing.
    shown = min(data.days_recorded_from, len(x) - 1)  # before recording began the line would be a guess
    active = np.array(data.active[shown:], dtype=float)
    low, high = float(active.min(initial=0)), float(active.max(initial=0))
    scaled = (
        top * (0.15 + 0.85 * (active - low) / (high - low)) if high > low else np.full_like(active, top * 0.6)
    )
    ax.plot(x[shown:], scaled, color=ACTIVE, linewidth=2, marker="o", markersize=3)
    for i in {0, int(np.argmin(active)), int(np.argmax(active)), len(active) - 1}:
        ax.annotate(
            f"{int(active[i]):,}",
            (x[shown + i], scaled[i]),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=ACTIVE,
        )
    handles = [
        Patch(color=JOINED, label=labels["joined"]),
        Patch(color=LEFT, label=labels["left"]),
        Patch(color=BLOCKED, label=labels["blocked"]),
        Line2D([], [], color=ACTIVE, linewidth=2, marker="o", markersize=3, label=labels["active"]),
    ]
    ax.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(0.3, 0.995), fontsize=8, ncols=4, frameon=False
    )
    ax.text(
        1.0,
        1.02,
        labels["active_now"].format(count=f"{data.active[-1] if data.active else 0:,}"),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=10,
        color=ACTIVE,
    )


def _sends(ax, data: ChartData, labels: Mapping[str, str]) -> None:
    x = np.arange(len(data.hours), dtype=float)
    sent, flood = np.array(data.sent, dtype=float), np.array(data.flood, dtype=float)
    _bars(ax, x, np.zeros_like(x), sent, 0.85, SENT)
    # 429s: a red mark over each hour that had any, bigger for more, with the count (no second y axis).
    hit = flood > 0
    if hit.any():
        ax.scatter(
            x[hit],
            np.full(int(hit.sum()), 0.93),
            s=20 + 60 * flood[hit] / flood.max(),
            color=FLOOD,
            marker="v",
            transform=ax.get_xaxis_transform(),
            zorder=4,
        )
        for i in np.flatnonzero(hit):
            ax.text(
                x[i],
                0.86,
                f"{int(flood[i])}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                fontsize=7,
                color=FLOOD,
            )
    _not_recorded(ax, data.hours_recorded_from, len(x), labels)
    ax.set_title(labels["sends"], loc="left", fontsize=12)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ticks = [i for i, hour in enumerate(data.hours) if hour.hour % 6 == 0]
    ax.set_xticks(ticks, [f"{data.hours[i]:%d.%m %H:00}" for i in ticks], fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(6, integer=True))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(0, max(1.0, float(sent.max(initial=0))) * 1.4)
    handles = [
        Patch(color=SENT, label=labels["sent"]),
        Line2D([], [], color=FLOOD, marker="v", linestyle="none", label=labels["flood"]),
    ]
    ax.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(0.36, 0.995), fontsize=8, ncols=2, frameon=False
    )
    ax.text(
        1.0,
        1.02,
        labels["totals"].format(sent=f"{int(sent.sum()):,}", flood=f"{int(flood.sum()):,}"),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=10,
    )


def _progress(ax, broadcasts: list[BroadcastStatus], labels: Mapping[str, str]) -> None:
    ax.set_title(labels["broadcasts"], loc="left", fontsize=12)
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(3, 0)  # room for three broadcasts; fewer keep the same thickness
    if not broadcasts:
        ax.text(0.5, 1.0, labels["no_broadcast"], ha="center", va="center", fontsize=11, color="#666666")
        return
    for row, b in enumerate(broadcasts):
        total = max(b.total, 1)
        shares = np.array([b.done - b.failed, b.failed, b.pending]) / total
        starts = np.concatenate(([0.0], np.cumsum(shares)[:-1]))
        for start, share, colour in zip(starts, shares, (JOINED, FLOOD, PENDING), strict=True):
            _bars(ax, np.array([start + share / 2]), np.array([row + 0.45]), np.array([0.35]), share, colour)
        share = b.done / b.total if b.total else 1.0
        state = (
            labels["filling"]
            if b.filling
            else labels["progress"].format(
                done=f"{b.done:,}", total=f"{b.total:,}", share=f"{share:.0%}", failed=f"{b.failed:,}"
            )
        )
        ax.text(0, row + 0.4, f"{_describe(b, labels)}  ·  {state}", ha="left", va="bottom", fontsize=9)


def _describe(b: BroadcastStatus, labels: Mapping[str, str]) -> str:
    if b.kind == "article":
        title = (b.title or "")[:60] + ("…" if b.title and len(b.title) > 60 else "")
        return labels["article"].format(ref=b.ref, title=title)
    if b.kind == "weather":
        return labels["weather"].format(ref=b.ref)
    return f"{b.kind} {b.ref}"
