"""Who may act on which user: self, an admin, or a service account with the right scope."""

from __future__ import annotations

import uuid

from server.domain import Principal, Scope
from server.errors import PermissionDenied, Reason


def require_self_or_admin(principal: Principal, user_id: uuid.UUID, scope: Scope) -> None:
    if principal.user_id == user_id or principal.is_admin or principal.has_scope(scope):
        return
    if principal.user_id is None:  # a service account: say which scope it lacks
        raise PermissionDenied(
            f"this service account lacks the scope {scope.value}", reason=Reason.NOT_ALLOWED
        )
    raise PermissionDenied("you may act only on your own account", reason=Reason.NOT_ALLOWED)


def require_user(principal: Principal) -> uuid.UUID:
    if principal.user_id is None:
        raise PermissionDenied(
            "this call needs a user's access token", reason=Reason.USER_TOKEN_REQUIRED
        )
    return principal.user_id
