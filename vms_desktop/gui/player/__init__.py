"""The players: frame-exact playback of stored clips, and the archive played from any moment."""

from vms_desktop.gui.player.archive_clock import GapMode
from vms_desktop.gui.player.archive_player import ArchivePlayer
from vms_desktop.gui.player.clip_player import SPEEDS, ClipPlayer
from vms_desktop.gui.player.seek_bar import EventSeekBar
from vms_desktop.gui.player.surface import VideoSurface

__all__ = ["SPEEDS", "ArchivePlayer", "ClipPlayer", "EventSeekBar", "GapMode", "VideoSurface"]
