"""Operator console (Qt)."""
