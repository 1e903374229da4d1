"""Machine-readable time stamp burned into a picture, and its reader.

A generated camera picture carries the moment it was made (Unix time in milliseconds) as a strip
of black and white blocks along its top edge, so anyone holding a decoded frame (a test, the
self-test, a person with a frame grabber) can tell which source moment it shows, even after
scaling and lossy encoding. The writer is pure Python so it also runs in processes without NumPy.

Layout, in fractions of the picture: one row of ``BITS`` blocks, each ``1/BITS`` of the width wide
and ``BLOCK_HEIGHT`` of the height tall, starting at the top-left corner. Bit ``i`` (most
significant first) is white when set. The payload is 48 bits of milliseconds followed by a 16-bit
check, so a misread frame is reported as unreadable instead of as a wrong time.
"""

from __future__ import annotations

from typing import Any

BITS = 64
PAYLOAD_BITS = 48
BLOCK_HEIGHT = 1 / 24
WHITE = 235
BLACK = 16


def _check(payload: int) -> int:
    """16-bit CRC (CCITT) of the payload's six bytes."""
    crc = 0xFFFF
    for byte in payload.to_bytes(6, "big"):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode(millis: int) -> int:
    """The 64-bit code word for a time in milliseconds."""
    payload = millis & ((1 << PAYLOAD_BITS) - 1)
    return (payload << 16) | _check(payload)


def strip_height(height: int) -> int:
    """Height in pixels of the stamp strip in a picture ``height`` pixels tall."""
    return max(2, round(height * BLOCK_HEIGHT))


def burn(plane: bytearray, width: int, height: int, millis: int, stride: int | None = None) -> None:
    """Draw the stamp for ``millis`` into an 8-bit luma plane (in place)."""
    stride = stride or width
    word = encode(millis)
    rows = strip_height(height)
    row = bytearray(width)
    for i in range(BITS):
        x0 = i * width // BITS
        x1 = (i + 1) * width // BITS
        value = WHITE if (word >> (BITS - 1 - i)) & 1 else BLACK
        row[x0:x1] = bytes([value]) * (x1 - x0)
    for y in range(rows):
        start = y * stride
        plane[start : start + width] = row


def read(luma: Any) -> int | None:
    """The time in milliseconds stamped on a luma picture (a 2-D NumPy array), or None.

    ``luma`` must show the stamped picture's full area (crop any padding first); the reader samples
    the middle of every block, so it tolerates scaling and compression noise.
    """
    import numpy as np

    height, width = luma.shape
    rows = strip_height(height)
    y0, y1 = max(0, rows // 4), max(1, rows * 3 // 4)
    word = 0
    for i in range(BITS):
        x0 = i * width // BITS
        x1 = (i + 1) * width // BITS
        margin = max(0, (x1 - x0) // 4)
        block = luma[y0:y1, x0 + margin : max(x0 + margin + 1, x1 - margin)]
        bit = 1 if float(np.mean(block)) > (WHITE + BLACK) / 2 else 0
        word = (word << 1) | bit
    payload, check = word >> 16, word & 0xFFFF
    if _check(payload) != check:
        return None
    return payload
