"""Fixtures (filled in by their owners)."""
