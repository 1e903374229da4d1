"""Benchmarks that print figures and ratios for people to read, not pass/fail tests."""
