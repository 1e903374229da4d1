"""Tests of the recording and clip engine."""
