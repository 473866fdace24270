"""What every picture the bot draws shares: matplotlib's Agg canvas, one render at a time, PNG out.

Pictures are drawn with matplotlib's object-oriented API on the Agg canvas (never pyplot, whose global
state is not thread-safe) in a worker thread (asyncio.to_thread), so the event loop never waits for a
render. matplotlib's text and font caches are shared by the whole process, so renders take turns on one
lock; on a 2-core machine two renders at once would not be faster anyway.
"""

from __future__ import annotations

import io
import threading

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

DPI = 100
RENDER_LOCK = threading.Lock()
FONT = "DejaVu Sans"  # ships with matplotlib and has every Turkish letter (ğ, ş, ı, İ)


def new_figure(width: int, height: int) -> Figure:
    """A figure of exactly width × height pixels on an Agg canvas, laid out by hand (no tight bbox)."""
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """Draw the figure and encode it as an RGB PNG (no alpha channel: 10 % smaller, and faster)."""
    canvas = figure.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()
    pixels = np.ascontiguousarray(np.asarray(canvas.buffer_rgba())[:, :, :3])
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()
