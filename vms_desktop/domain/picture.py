"""A decoded picture as the console paints it, and the rate live previews run at by default."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

RgbImage = npt.NDArray[np.uint8]
"""A picture as a (height, width, 3) RGB array."""

DEFAULT_PREVIEW_FPS = 10.0


@dataclass(frozen=True)
class PreviewPicture:
    """One decoded picture, ready to paint: an RGB array, the UTC time it shows, its number."""

    image: RgbImage
    when: float
    sequence: int


__all__ = ["DEFAULT_PREVIEW_FPS", "PreviewPicture", "RgbImage"]
