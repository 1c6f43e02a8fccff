"""The Redis keys a test inspects to see what a server shares with the other replicas."""

from __future__ import annotations

from server.app import Application


def user_key(app: Application, user_id: str) -> str:
    """The cached copy of a user."""
    return f"{app.settings.redis_key_prefix}user:{user_id}"


def revoked_key(app: Application, session_id: str) -> str:
    """The marker of a revoked session."""
    return f"{app.settings.redis_key_prefix}revoked:{session_id}"


def revocations_loaded_key(app: Application) -> str:
    """Set once the revocations have been copied from the database into this Redis."""
    return f"{app.settings.redis_key_prefix}revoked:loaded"
