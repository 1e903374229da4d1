"""The burned-in time stamp survives scaling and encoding, and misreads are refused."""

from __future__ import annotations

import numpy as np

from vms_desktop.engine import framestamp


def _stamped(width: int, height: int, millis: int) -> np.ndarray:
    plane = bytearray(b"\x80" * width * height)
    framestamp.burn(plane, width, height, millis)
    return np.frombuffer(bytes(plane), np.uint8).reshape(height, width)


def test_round_trip_at_several_sizes() -> None:
    millis = 1_764_000_123_456
    for width, height in [(640, 480), (1280, 720), (320, 240)]:
        assert framestamp.read(_stamped(width, height, millis)) == millis


def test_survives_downscaling() -> None:
    millis = 1_700_000_000_001
    big = _stamped(1920, 1080, millis)
    small = big[::3, ::3]  # 640x360, nearest-neighbour
    assert framestamp.read(small) == millis


def test_a_damaged_stamp_reads_as_none() -> None:
    luma = _stamped(640, 480, 1_764_000_000_000).copy()
    luma[:20, 300:310] = 255 - luma[:20, 300:310]  # flip one block
    assert framestamp.read(luma) is None


def test_an_unstamped_picture_reads_as_none() -> None:
    assert framestamp.read(np.full((480, 640), 128, np.uint8)) is None
