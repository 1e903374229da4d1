"""A clip decoding thread for playback: opens one clip and decodes the frame asked for last."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from vms_desktop.domain.errors import PlaybackError
from vms_desktop.engine.playback import ClipReader, DecodedFrame

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipInfo:
    """What a player needs to know of an opened clip."""

    fps: float
    frame_count: int
    size: tuple[int, int]
    display_aspect: float


class ClipDecoder(threading.Thread):
    """Opens one clip and decodes whichever frame was asked for last; older requests are dropped.

    Only the newest request matters (playback asks for the frame due now, scrubbing for the one
    under the mouse), so a slow decoder skips pictures instead of falling behind. Outcomes are
    handed to the callbacks on this thread: ``on_opened`` once, then ``on_decoded`` per frame,
    ``on_failed`` with a readable reason when opening or a frame fails.
    """

    def __init__(
        self,
        source: str,
        on_opened: Callable[[ClipInfo], None],
        on_decoded: Callable[[DecodedFrame], None],
        on_failed: Callable[[str], None],
    ) -> None:
        super().__init__(name="clip-decoder", daemon=True)
        self.source = source
        self._on_opened = on_opened
        self._on_decoded = on_decoded
        self._on_failed = on_failed
        self._wake = threading.Condition()
        self._wanted: int | None = None
        self._stopping = False

    def request(self, index: int) -> None:
        """Decode frame ``index`` next (replacing a request not started yet)."""
        with self._wake:
            self._wanted = index
            self._wake.notify()

    def stop(self) -> None:
        """End the thread after the frame under way; the clip is closed."""
        with self._wake:
            self._stopping = True
            self._wake.notify()

    def run(self) -> None:
        try:
            reader = ClipReader(self.source)
        except PlaybackError as exc:
            self._on_failed(str(exc))
            return
        except Exception:  # the operator gets a message, the log gets the traceback
            log.exception("opening a clip failed")
            self._on_failed("the clip cannot be played")
            return
        try:
            info = ClipInfo(reader.fps, reader.frame_count, reader.size, reader.display_aspect)
            self._on_opened(info)
            while True:
                with self._wake:
                    while self._wanted is None and not self._stopping:
                        self._wake.wait()
                    if self._stopping or self._wanted is None:
                        return
                    index = self._wanted
                    self._wanted = None
                try:
                    frame = reader.frame_at(index)
                except (PlaybackError, IndexError) as exc:
                    self._on_failed(str(exc))
                    continue
                except Exception:
                    log.exception("decoding frame %d failed", index)
                    self._on_failed(f"frame {index} cannot be decoded")
                    continue
                self._on_decoded(frame)
        finally:
            reader.close()


__all__ = ["ClipDecoder", "ClipInfo", "DecodedFrame"]
