"""Typed Python client for userservice."""
