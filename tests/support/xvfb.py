"""A private X server (Xvfb) for tests that need a real display, and screenshots of it."""

from __future__ import annotations

import os
import select
import subprocess
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


class XvfbDisplay:
    """An Xvfb server on a display number it picks itself; stopped by ``stop()``."""

    def __init__(self, width: int = 1600, height: int = 1000) -> None:
        self.size = (width, height)
        self.process: subprocess.Popen[bytes] | None = None
        self.name = ""
        self._pipe: int | None = None

    def start(self, timeout: float = 20.0) -> None:
        """Start the server and wait until it names its display."""
        # Xvfb writes its display number to this pipe once it accepts connections; the read end
        # stays open while it runs, since Xvfb treats a failed write there as fatal.
        read_end, write_end = os.pipe()
        self._pipe = read_end
        self.process = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(write_end),
                "-screen",
                "0",
                f"{self.size[0]}x{self.size[1]}x24",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(write_end,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], timeout)
        number = os.read(read_end, 64).decode().strip() if ready else ""
        if not number.isdigit():
            self.stop()
            raise RuntimeError(f"Xvfb named no display within {timeout:.0f} s ({number!r})")
        self.name = f":{number}"

    def screenshot(self, path: Path) -> NDArray[np.uint8]:
        """Save the whole screen as PNG (ImageMagick's ``import``) and return it as RGB pixels."""
        subprocess.run(
            ["import", "-display", self.name, "-window", "root", str(path)],
            check=True,
            timeout=30,
        )
        raw = subprocess.run(
            ["convert", str(path), "-depth", "8", "rgb:-"], check=True, capture_output=True
        ).stdout
        return np.frombuffer(raw, np.uint8).reshape(self.size[1], self.size[0], 3)

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
