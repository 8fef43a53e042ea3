"""Headwater: a self-hosted customer data platform speaking the Intempt wire protocol."""

__version__ = "0.1.0"
