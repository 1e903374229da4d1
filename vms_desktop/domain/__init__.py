"""Plain data shared by every layer: cameras, events, clips, ids and their validation."""
