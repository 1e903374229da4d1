"""Helpers shared by the tests: real network peers such as the RTSP test camera."""
