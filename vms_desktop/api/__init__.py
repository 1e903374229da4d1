"""Embedded HTTP API for detectors and tools (no Qt)."""
