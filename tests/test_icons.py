"""The application icon PNGs: one per size, square, with alpha, and showing the logo."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

import pytest

from vms_desktop.resource_files import ICON_SIZES, icon_path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLOR_TYPE_RGBA = 6
# The logo's colours (resources/vms_desktop.svg): background, camera, recording dot.
BACKGROUND = (0x1E, 0x21, 0x26)
CAMERA = (0x2F, 0x6D, 0xB5)
RECORDING = (0xE0, 0x48, 0x48)


@dataclass(frozen=True)
class Png:
    """The header fields of a PNG and, for 8-bit RGBA, its pixels as (r, g, b, a) rows."""

    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int
    chunks: list[bytes]
    rows: list[list[tuple[int, int, int, int]]]


def _paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
    return (left, up, up_left)[distances.index(min(distances))]


def _unfilter(data: bytes, width: int, height: int, channels: int) -> list[bytes]:
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    offset = 0
    for _ in range(height):
        kind = data[offset]
        line = bytearray(data[offset + 1 : offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            up_left = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                line[i] = (line[i] + _paeth(left, up, up_left)) & 0xFF
            elif kind != 0:
                raise AssertionError(f"unknown PNG filter type {kind}")
        rows.append(bytes(line))
        previous = line
    assert offset == len(data), "image data longer than the header says"
    return rows


def read_png(data: bytes) -> Png:
    """Parse ``data`` with struct and zlib alone, checking every chunk's CRC."""
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    offset = 8
    chunks: list[bytes] = []
    header = b""
    image_data = b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        chunks.append(kind)
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            image_data += body
        offset += 12 + length
        if kind == b"IEND":
            break
    assert chunks[0] == b"IHDR", "IHDR is not the first chunk"
    assert chunks[-1] == b"IEND", "no IEND chunk"
    width, height, bit_depth, color_type, _, _, interlace = struct.unpack(">IIBBBBB", header)
    rows: list[list[tuple[int, int, int, int]]] = []
    if (bit_depth, color_type, interlace) == (8, COLOR_TYPE_RGBA, 0):
        raw = _unfilter(zlib.decompress(image_data), width, height, 4)
        rows = [list(struct.iter_unpack("4B", line)) for line in raw]
    return Png(width, height, bit_depth, color_type, interlace, chunks, rows)


def _near(pixel: tuple[int, int, int, int], colour: tuple[int, int, int], slack: int = 24) -> bool:
    return pixel[3] == 255 and all(abs(a - b) <= slack for a, b in zip(pixel, colour, strict=False))


@pytest.fixture(scope="module", params=ICON_SIZES, ids=lambda size: f"{size}px")
def icon(request: pytest.FixtureRequest) -> tuple[int, Png]:
    size: int = request.param
    path = icon_path(size)
    assert path.is_file(), f"{path} is missing: run scripts/render_icons.py"
    return size, read_png(path.read_bytes())


def test_icon_sizes_cover_the_freedesktop_range() -> None:
    assert tuple(sorted(set(ICON_SIZES))) == ICON_SIZES
    assert ICON_SIZES[0] == 16
    assert ICON_SIZES[-1] == 512
    assert {16, 32, 48, 64, 128, 256} <= set(ICON_SIZES)


def test_icon_is_square_of_its_size(icon: tuple[int, Png]) -> None:
    size, png = icon
    assert (png.width, png.height) == (size, size)


def test_icon_has_an_alpha_channel(icon: tuple[int, Png]) -> None:
    _, png = icon
    assert png.color_type == COLOR_TYPE_RGBA, f"colour type {png.color_type} has no alpha"
    assert (png.bit_depth, png.interlace) == (8, 0)


def test_icon_background_is_transparent(icon: tuple[int, Png]) -> None:
    size, png = icon
    assert png.rows, "only 8-bit RGBA PNGs are decoded here"
    corners = [png.rows[0][0], png.rows[0][-1], png.rows[-1][0], png.rows[-1][-1]]
    assert all(pixel[3] == 0 for pixel in corners), corners
    assert png.rows[size // 2][size // 2][3] == 255


def test_icon_shows_the_logo(icon: tuple[int, Png]) -> None:
    size, png = icon
    assert png.rows, "only 8-bit RGBA PNGs are decoded here"
    pixels = [pixel for row in png.rows for pixel in row]
    opaque = [pixel for pixel in pixels if pixel[3] == 255]
    # The rounded square fills most of the icon; the rest fades out to the transparent corners.
    assert len(opaque) >= 0.6 * size * size
    for name, colour in (("background", BACKGROUND), ("camera", CAMERA), ("dot", RECORDING)):
        assert any(_near(pixel, colour) for pixel in opaque), f"no {name} colour {colour}"
    # The camera body is the largest shape after the background.
    camera = sum(1 for pixel in opaque if _near(pixel, CAMERA))
    assert camera >= 0.15 * size * size


def test_png_reader_rejects_a_blank_or_broken_file() -> None:
    header = struct.pack(">IIBBBBB", 4, 4, 8, COLOR_TYPE_RGBA, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x00" * 16 for _ in range(4)))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    blank = PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    png = read_png(blank)
    assert (png.width, png.height) == (4, 4)
    assert all(pixel == (0, 0, 0, 0) for row in png.rows for pixel in row)
    with pytest.raises(AssertionError, match="bad CRC"):
        read_png(blank[:-5] + b"\x00" + blank[-4:])
