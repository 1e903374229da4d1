"""The size a picture takes inside a box when its displayed aspect ratio is kept."""

from __future__ import annotations

from fractions import Fraction


def fit_size(
    width: int,
    height: int,
    box_width: int,
    box_height: int,
    pixel_aspect: Fraction | None = None,
    *,
    even: bool = False,
) -> tuple[int, int]:
    """The largest size inside the box with the picture's displayed aspect ratio.

    ``pixel_aspect`` is the sample aspect ratio (non-square pixels of PAL or anamorphic
    cameras); ``even`` rounds to even sizes, as H.264 with 4:2:0 chroma needs. Exact fractions,
    so a picture with the box's own aspect fills it exactly.
    """
    aspect = (
        Fraction(width) * (pixel_aspect or 1) / height
        if width > 0 and height > 0
        else Fraction(box_width, box_height)
    )
    step = 2 if even else 1
    if Fraction(box_width, box_height) > aspect:
        return min(box_width, max(2, round(box_height * aspect / step) * step)), box_height
    return box_width, min(box_height, max(2, round(box_width / aspect / step) * step))
