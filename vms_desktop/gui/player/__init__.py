"""The clip player: frame-exact playback of a stored clip with its wall clock and event marker."""

from vms_desktop.gui.player.clip_player import SPEEDS, ClipPlayer
from vms_desktop.gui.player.seek_bar import EventSeekBar
from vms_desktop.gui.player.surface import VideoSurface

__all__ = ["SPEEDS", "ClipPlayer", "EventSeekBar", "VideoSurface"]
