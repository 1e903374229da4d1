"""Tests of the Qt console, run offscreen with pytest-qt."""
