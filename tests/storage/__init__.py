"""Tests of the storage layer: clip stores, URL signing, atomic writes and the catalogue."""
