"""Recording and clip engine: camera ingest, rolling buffer, clip building (no Qt)."""
