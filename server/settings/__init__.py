"""The themed parts of `Settings` (server/config.py), one class per theme."""
