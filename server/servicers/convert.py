"""Protobuf ↔ domain translation. Unknown enum values are the caller's error, not ours."""

from __future__ import annotations

import datetime as dt

from google.protobuf import field_mask_pb2, timestamp_pb2

from server.domain import Role, SessionInfo, TokenIntrospection, TokenPair, User, UserState
from server.errors import FieldViolation, InvalidArgument, Reason
from userservice.v1 import auth_pb2, user_pb2

_ROLE_TO_PROTO = {Role.USER: user_pb2.User.ROLE_USER, Role.ADMIN: user_pb2.User.ROLE_ADMIN}
_ROLE_FROM_PROTO = {v: k for k, v in _ROLE_TO_PROTO.items()}
_STATE_TO_PROTO = {
    UserState.ACTIVE: user_pb2.User.STATE_ACTIVE,
    UserState.DISABLED: user_pb2.User.STATE_DISABLED,
}
_STATE_FROM_PROTO = {v: k for k, v in _STATE_TO_PROTO.items()}


def timestamp(value: dt.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def role_from_proto(value: int, *, field: str) -> Role | None:
    """None for ROLE_UNSPECIFIED; InvalidArgument for a number no Role has."""
    if value == user_pb2.User.ROLE_UNSPECIFIED:
        return None
    try:
        return _ROLE_FROM_PROTO[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument.for_field(field, f"unknown role {value}") from None


def state_from_proto(value: int, *, field: str) -> UserState | None:
    if value == user_pb2.User.STATE_UNSPECIFIED:
        return None
    try:
        return _STATE_FROM_PROTO[value]  # type: ignore[index]
    except KeyError:
        raise InvalidArgument.for_field(field, f"unknown state {value}") from None


def user_to_proto(user: User) -> user_pb2.User:
    return user_pb2.User(
        id=str(user.id),
        email=user.email,
        display_name=user.display_name,
        role=_ROLE_TO_PROTO[user.role],
        state=_STATE_TO_PROTO[user.state],
        email_verified=user.email_verified,
        create_time=timestamp(user.created_at),
        update_time=timestamp(user.updated_at),
        etag=user.etag,
    )


def token_pair_to_proto(pair: TokenPair) -> auth_pb2.TokenPair:
    return auth_pb2.TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type="Bearer",  # noqa: S106 - the scheme name, not a secret
        access_token_expire_time=timestamp(pair.access_expires_at),
        refresh_token_expire_time=timestamp(pair.refresh_expires_at),
        session_id="" if pair.session_id is None else str(pair.session_id),
    )


def introspection_to_proto(result: TokenIntrospection) -> auth_pb2.ValidateTokenResponse:
    if not result.active:
        return auth_pb2.ValidateTokenResponse(active=False)
    return auth_pb2.ValidateTokenResponse(
        active=True,
        user_id="" if result.user_id is None else str(result.user_id),
        session_id="" if result.session_id is None else str(result.session_id),
        role=_ROLE_TO_PROTO[result.role] if result.role else user_pb2.User.ROLE_UNSPECIFIED,
        expire_time=timestamp(result.expires_at),
        scopes=result.scopes,
        client_id=result.client_id,
    )


def session_to_proto(session: SessionInfo, *, current: bool) -> auth_pb2.Session:
    return auth_pb2.Session(
        id=str(session.id),
        user_id=str(session.user_id),
        create_time=timestamp(session.created_at),
        last_use_time=timestamp(session.last_used_at),
        expire_time=timestamp(session.expires_at),
        client_ip=session.client_ip,
        user_agent=session.user_agent,
        current=current,
    )


def mask_paths(mask: field_mask_pb2.FieldMask, allowed: frozenset[str]) -> frozenset[str]:
    """The paths of an update's FieldMask; none, or an unknown or read-only one, is invalid."""
    paths = list(mask.paths)
    if not paths:
        raise InvalidArgument.for_field("update_mask", f"must name fields: {sorted(allowed)}")
    bad = [path for path in paths if path not in allowed]
    if bad:
        raise InvalidArgument(
            f"update_mask: cannot update {', '.join(bad)}",
            [FieldViolation("update_mask", f"{path!r} is unknown or read-only") for path in bad],
            reason=Reason.INVALID_UPDATE_MASK,
        )
    return frozenset(paths)
