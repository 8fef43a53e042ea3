"""Identity resolution: which identifiers are one person. Pure Python, no I/O."""
