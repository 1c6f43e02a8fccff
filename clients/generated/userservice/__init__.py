"""Generated; do not edit."""
