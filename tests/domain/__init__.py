"""Tests of the plain domain layer: ids, redaction and camera data."""
