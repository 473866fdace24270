"""The operators' chart: subscribers over 30 days, sends per hour over 48 hours, broadcasts in progress.

Pure drawing: ChartData in, PNG out, under the shared render lock (bot/plotting.py); run it in a thread.
Nothing here grows with the audience: 30 days, 48 hours and at most a few broadcasts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

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


def _not_recorded(ax, upto: int, count: int, labels: Mapping[str, str]) -> None:
    """Grey out the slots before recording started, and say so."""
    if upto <= 0:
        return
    ax.axvspan(-0.5, min(upto, count) - 0.5, color=NOT_RECORDED, zorder=0)
    ax.text(
        (min(upto, count) - 1) / 2,
        0.5,
        labels["not_recorded"],
        transform=ax.get_xaxis_transform(),
        ha="center",
        va="center",
        fontsize=9,
        color="#888888",
    )


def _subscribers(ax, data: ChartData, labels: Mapping[str, str]) -> None:
    x = np.arange(len(data.days))
    joined, left, blocked = (np.array(v) for v in (data.joined, data.left, data.blocked))
    ax.bar(x, joined, color=JOINED, label=labels["joined"], width=0.8)
    ax.bar(x, -left, color=LEFT, label=labels["left"], width=0.8)
    ax.bar(x, -blocked, bottom=-left, color=BLOCKED, label=labels["blocked"], width=0.8)
    ax.axhline(0, color="#666666", linewidth=0.6)
    _not_recorded(ax, data.days_recorded_from, len(x), labels)
    ax.set_title(labels["subscribers"], loc="left", fontsize=12)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ax.set_xticks(x[::3], [f"{d:%d.%m}" for d in data.days[::3]], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylabel(labels["per_day"], fontsize=9)
    top = max(1, int(joined.max(initial=0)), int((left + blocked).max(initial=0)))
    ax.set_ylim(-top * 1.15, top * 1.15)
    line = ax.twinx()
    shown = min(data.days_recorded_from, len(x) - 1)  # before recording began the line would be a guess
    line.plot(
        x[shown:],
        data.active[shown:],
        color=ACTIVE,
        linewidth=2,
        marker="o",
        markersize=3,
        label=labels["active"],
    )
    line.tick_params(axis="y", labelsize=8, colors=ACTIVE)
    low, high = min(data.active[shown:], default=0), max(data.active[shown:], default=0)
    pad = max(1, (high - low) * 0.15)
    line.set_ylim(max(0, low - pad), high + pad)
    handles = ax.get_legend_handles_labels()[0] + line.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=4, frameon=False)
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
    x = np.arange(len(data.hours))
    ax.bar(x, data.sent, color=SENT, width=0.85, label=labels["sent"])
    _not_recorded(ax, data.hours_recorded_from, len(x), labels)
    ax.set_title(labels["sends"], loc="left", fontsize=12)
    ax.set_xlim(-0.6, len(x) - 0.4)
    ticks = [i for i, hour in enumerate(data.hours) if hour.hour % 6 == 0]
    ax.set_xticks(ticks, [f"{data.hours[i]:%d.%m %H:00}" for i in ticks], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(0, max(1, max(data.sent, default=0)) * 1.2)
    floods = ax.twinx()
    floods.bar(x, data.flood, color=FLOOD, width=0.35, label=labels["flood"])
    floods.set_ylim(0, max(1, max(data.flood, default=0)) * 1.6)
    floods.tick_params(axis="y", labelsize=8, colors=FLOOD)
    handles = ax.get_legend_handles_labels()[0] + floods.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper left", fontsize=8, ncols=2, frameon=False)
    ax.text(
        1.0,
        1.02,
        labels["totals"].format(sent=f"{sum(data.sent):,}", flood=f"{sum(data.flood):,}"),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=10,
    )


def _progress(ax, broadcasts: list[BroadcastStatus], labels: Mapping[str, str]) -> None:
    ax.set_title(labels["broadcasts"], loc="left", fontsize=12)
    ax.set_xlim(0, 1)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    if not broadcasts:
        ax.text(0.5, 0.5, labels["no_broadcast"], ha="center", va="center", fontsize=11, color="#666666")
        return
    rows = len(broadcasts)
    ax.set_ylim(rows - 0.5, -0.5)
    for row, b in enumerate(broadcasts):
        total = max(b.total, 1)
        sent = (b.done - b.failed) / total
        failed = b.failed / total
        ax.barh(row, sent, height=0.45, color=JOINED, left=0)
        ax.barh(row, failed, height=0.45, color=FLOOD, left=sent)
        ax.barh(row, 1 - sent - failed, height=0.45, color=PENDING, left=sent + failed)
        what = _describe(b, labels)
        share = b.done / b.total if b.total else 1.0
        state = (
            labels["filling"]
            if b.filling
            else labels["progress"].format(
                done=f"{b.done:,}", total=f"{b.total:,}", share=f"{share:.0%}", failed=f"{b.failed:,}"
            )
        )
        ax.text(0, row - 0.3, f"{what}  ·  {state}", ha="left", va="bottom", fontsize=9)


def _describe(b: BroadcastStatus, labels: Mapping[str, str]) -> str:
    if b.kind == "article":
        title = (b.title or "")[:60] + ("…" if b.title and len(b.title) > 60 else "")
        return labels["article"].format(ref=b.ref, title=title)
    if b.kind == "weather":
        return labels["weather"].format(ref=b.ref)
    return f"{b.kind} {b.ref}"
