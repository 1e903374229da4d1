"""How the console writes a moment: the operator's local time, always with its zone shown.

Stored times are UTC; operators think in local time. Every place in the console that shows a
moment (player clock, event feed, library, tooltips, confirmations, timeline axis) writes it
through this module, so they all agree and none leaves the zone to guesswork.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a moment to show must carry its time zone")
    return moment.astimezone()


def utc_offset(moment: datetime) -> timedelta:
    """The local zone's offset from UTC at ``moment`` (daylight saving time included)."""
    offset = _local(moment).utcoffset()
    return offset if offset is not None else timedelta(0)


def offset_text(offset: timedelta) -> str:
    """``UTC``, ``UTC+01:00``, ``UTC-03:30``..."""
    minutes = round(offset.total_seconds() / 60)
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def zone_label(moment: datetime) -> str:
    """The local zone's name at ``moment`` (``CET``, ``EDT``), or its offset when it has none.

    Zones without a lettered abbreviation (the system reports ``+03``) read as ``UTC+03:00``.
    """
    local = _local(moment)
    name = local.tzname() or ""
    if name.isalpha():
        return name
    return offset_text(local.utcoffset() or timedelta(0))


def local_time_text(moment: datetime, *, date: bool = True, milliseconds: bool = False) -> str:
    """``2026-01-02 04:04:05 CET``: the moment in local time, followed by the zone.

    ``date=False`` leaves out the day (for compact columns whose tooltip has the full text);
    ``milliseconds`` adds them, rounded to the nearest.
    """
    if milliseconds:
        moment = moment + timedelta(microseconds=500)
    local = _local(moment)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if date else "%H:%M:%S")
    if milliseconds:
        text += f".{local.microsecond // 1000:03d}"
    return f"{text} {zone_label(moment)}"


def current_zone_label() -> str:
    """The local zone's name now (for axis titles)."""
    return zone_label(datetime.now(UTC))


__all__ = ["current_zone_label", "local_time_text", "offset_text", "utc_offset", "zone_label"]
