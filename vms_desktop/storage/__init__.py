"""Clip stores and the clip catalogue (no Qt, no PyAV)."""
