"""Test support: real backends (databases created per test, Redis key prefixes) and servers."""
