"""What the fake Bot API needs to accept photos as strictly as Telegram: read PNG and JPEG files for real.

Telegram decodes an uploaded photo and refuses what it cannot decode (IMAGE_PROCESS_FAILED) or what has
impossible dimensions (PHOTO_INVALID_DIMENSIONS: width + height over 10,000, or one side more than 20
times the other). This module checks a PNG chunk by chunk (signature, CRCs, IHDR, the IDAT stream
inflated to exactly the bytes its rows need, IEND) and a JPEG marker by marker (SOI, a frame header with
the size, SOS, EOI), with nothing but the standard library, so a test's "valid PNG" means valid.
"""

from __future__ import annotations

import math
import struct
import zlib
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PHOTO_SIDES = 10_000  # width + height
MAX_PHOTO_RATIO = 20
# Telegram's thumbnail boxes (s, m, x, y, w): a photo comes back in every size smaller than itself,
# and itself up to the first box that holds it.
PHOTO_BOXES = (90, 320, 800, 1280, 2560)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_JPEG_FRAMES = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


class ImageError(ValueError):
    """The bytes are not an image Telegram would take; the message is Telegram's error text."""


@dataclass(frozen=True)
class ImageInfo:
    """A decoded image's format and size."""

    format: str  # "png" | "jpeg"
    width: int
    height: int


def photo_info(data: bytes) -> ImageInfo:
    """Check a photo upload like Telegram: a real PNG or JPEG of allowed size and dimensions."""
    if len(data) > MAX_PHOTO_BYTES:
        raise ImageError("file is too big")
    if data.startswith(PNG_SIGNATURE):
        info = png_info(data)
    elif data.startswith(b"\xff\xd8"):
        info = jpeg_info(data)
    else:
        raise ImageError("IMAGE_PROCESS_FAILED")
    w, h = info.width, info.height
    if w + h > MAX_PHOTO_SIDES or max(w, h) > MAX_PHOTO_RATIO * min(w, h):
        raise ImageError("PHOTO_INVALID_DIMENSIONS")
    return info


def png_info(data: bytes) -> ImageInfo:
    """Walk a PNG's chunks (CRCs checked) and inflate its image data; IMAGE_PROCESS_FAILED if broken."""
    failed = ImageError("IMAGE_PROCESS_FAILED")
    position, header, palette, compressed, ended = len(PNG_SIGNATURE), None, False, [], False
    while position + 12 <= len(data) and not ended:
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        crc = data[position + 8 + length : position + 12 + length]
        if len(body) != length or len(crc) != 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            raise failed
        if header is None and kind != b"IHDR":
            raise failed
        if kind == b"IHDR":
            if length != 13:
                raise failed
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = True
        elif kind == b"IDAT":
            compressed.append(body)
        elif kind == b"IEND":
            ended = True
        position += 12 + length
    if header is None or not ended or not compressed:
        raise failed
    width, height, depth, colour, method, filtering, interlace = header
    if (
        not width
        or not height
        or depth not in _PNG_DEPTHS.get(colour, ())
        or method
        or filtering
        or interlace not in (0, 1)
        or (colour == 3 and not palette)
    ):
        raise failed
    try:
        raw = zlib.decompress(b"".join(compressed))
    except zlib.error:
        raise failed from None
    bits = _PNG_CHANNELS[colour] * depth
    if interlace == 0:
        expected = height * (1 + math.ceil(width * bits / 8))
    else:  # Adam7: seven reduced images, each with its own rows
        expected = 0
        for x0, y0, dx, dy in _ADAM7:
            columns, rows = max(0, math.ceil((width - x0) / dx)), max(0, math.ceil((height - y0) / dy))
            if columns and rows:
                expected += rows * (1 + math.ceil(columns * bits / 8))
    if len(raw) != expected:
        raise failed
    return ImageInfo("png", width, height)


def jpeg_info(data: bytes) -> ImageInfo:
    """Walk a JPEG's markers up to the scan; IMAGE_PROCESS_FAILED without a frame, scan or end marker."""
    failed = ImageError("IMAGE_PROCESS_FAILED")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        raise failed
    position, size = 2, None
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise failed
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if length < 2 or position + 2 + length > len(data):
            raise failed
        if marker in _JPEG_FRAMES:
            if length < 8:
                raise failed
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows up to EOI
            if size is None or not all(size):
                raise failed
            return ImageInfo("jpeg", *size)
        position += 2 + length
    raise failed


def photo_sizes(info: ImageInfo, file_size: int) -> list[tuple[int, int, int]]:
    """(width, height, approximate bytes) of the sizes Telegram returns for a photo, smallest first."""
    longest = max(info.width, info.height)
    sizes = []
    for box in PHOTO_BOXES:
        scale = min(1.0, box / longest)
        w, h = max(1, round(info.width * scale)), max(1, round(info.height * scale))
        sizes.append((w, h, max(1, round(file_size * scale * scale))))
        if box >= longest:
            break
    return sizes
