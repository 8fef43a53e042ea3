"""Unified profiles: a person's identifiers, attributes and computed attributes."""
