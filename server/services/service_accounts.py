"""Service accounts: admin management, client-credentials tokens, and the per-call liveness check.

A client secret is 256 bits from the OS CSPRNG, shown once and stored as SHA-256 (nothing to
brute-force, so no slow hash), compared with `hmac.compare_digest`. Revocation is a per-account
mark, `tokens_revoked_at`: a token issued at or before that second is refused. Every call with a
service token reads the account row, so a disabled or deleted account is refused on the next
call on every replica (they share the database).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Sequence

from server.cache.rate_limit import RateLimiter, subject_digest
from server.domain import (
    ClientInfo,
    IssuedSecret,
    Scope,
    ServiceAccount,
    ServiceAccountChanges,
    ServiceAccountState,
    TokenPair,
)
from server.errors import Aborted, InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from server.repositories.database import Database
from server.repositories.ids import new_id
from server.repositories.models import ServiceAccountRow
from server.repositories.service_accounts import ServiceAccountRepository, to_service_account
from server.security.tokens import AccessTokenCodec
from server.services.inputs import check_display_name, parse_id, require_text
from server.services.limits import Limits, rate_limited
from server.services.paging import PageTokens, page_size

Clock = Callable[[], dt.datetime]
CLIENT_ID_PREFIX = "svc_"
MAX_CLIENT_ID_LENGTH = 64
MAX_SECRET_LENGTH = 128
_PAGE_QUERY = "service_accounts"
_DUMMY_HASH = hashlib.sha256(b"no such client").digest()


def invalid_client() -> Unauthenticated:
    # One answer for an unknown client id and a wrong secret: the caller learns nothing more.
    return Unauthenticated("invalid client id or secret", reason="INVALID_CREDENTIALS")


def account_not_found() -> NotFound:
    return NotFound("no such service account", reason="SERVICE_ACCOUNT_NOT_FOUND")


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def check_scopes(raw: Sequence[str], *, field: str) -> tuple[str, ...]:
    known = {scope.value for scope in Scope}
    for value in raw:
        if value not in known:
            raise InvalidArgument.for_field(
                field, f"unknown scope {value[:40]!r}; one of {', '.join(sorted(known))}"
            )
    return tuple(sorted(set(raw)))


class ServiceAccountService:
    def __init__(
        self,
        *,
        db: Database,
        codec: AccessTokenCodec,
        limiter: RateLimiter,
        limits: Limits,
        page_tokens: PageTokens,
        token_ttl: dt.timedelta,
        secret_grace: dt.timedelta,
        clock: Clock,
    ) -> None:
        self._db = db
        self._codec = codec
        self._limiter = limiter
        self._limits = limits
        self._page_tokens = page_tokens
        self._token_ttl = token_ttl
        self._secret_grace = secret_grace
        self._clock = clock

    # -- administration (the policy table admits administrators only) ----------------------

    async def create(self, *, display_name: str, scopes: Sequence[str]) -> IssuedSecret:
        name = check_display_name(display_name)
        granted = check_scopes(scopes, field="scopes")
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        row = ServiceAccountRow(
            id=new_id(),
            client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(16),
            display_name=name,
            scopes=" ".join(granted),
            state=ServiceAccountState.ACTIVE,
            secret_hash=secret_hash(secret),
            previous_secret_hash=None,
            previous_secret_expires_at=None,
            tokens_revoked_at=None,
            version=1,
            created_at=now,
            updated_at=now,
        )
        async with self._db.transaction() as session:
            ServiceAccountRepository(session).add(row)
        return IssuedSecret(to_service_account(row), secret)

    async def get(self, ref: str) -> ServiceAccount:
        account_id = parse_id(ref, field="id")
        async with self._db.read() as session:
            row = await ServiceAccountRepository(session).get(account_id)
            if row is None:
                raise account_not_found()
            return to_service_account(row)

    async def list(self, *, size: int, token: str) -> tuple[list[ServiceAccount], str]:
        limit = page_size(size)
        after = self._page_tokens.decode_id(token, _PAGE_QUERY)
        async with self._db.read() as session:
            rows = await ServiceAccountRepository(session).page(after=after, limit=limit + 1)
        accounts = [to_service_account(row) for row in rows[:limit]]
        more = len(rows) > limit
        return accounts, self._page_tokens.encode(_PAGE_QUERY, accounts[-1].id) if more else ""

    async def update(
        self, ref: str, changes: ServiceAccountChanges, *, etag: str
    ) -> ServiceAccount:
        account_id = parse_id(ref, field="service_account.id")
        name = (
            None
            if changes.display_name is None
            else check_display_name(changes.display_name, field="service_account.display_name")
        )
        scopes = (
            None
            if changes.scopes is None
            else check_scopes(changes.scopes, field="service_account.scopes")
        )
        async with self._db.transaction() as session:
            row = await self._locked(ServiceAccountRepository(session), account_id, etag)
            now = self._clock()
            lost_scopes = scopes is not None and not set(row.scopes.split()) <= set(scopes)
            disabled = (
                changes.state is ServiceAccountState.DISABLED
                and row.state is not ServiceAccountState.DISABLED
            )
            if name is not None:
                row.display_name = name
            if scopes is not None:
                row.scopes = " ".join(scopes)
            if changes.state is not None:
                row.state = changes.state
            if lost_scopes or disabled:
                # Tokens carry their scopes: those issued before the change must not outlive it.
                row.tokens_revoked_at = now
            row.version += 1
            row.updated_at = now
            return to_service_account(row)

    async def rotate_secret(self, ref: str) -> IssuedSecret:
        account_id = parse_id(ref, field="id")
        secret = secrets.token_urlsafe(32)
        async with self._db.transaction() as session:
            row = await self._locked(ServiceAccountRepository(session), account_id, "")
            now = self._clock()
            expires = now + self._secret_grace
            row.previous_secret_hash = row.secret_hash
            row.previous_secret_expires_at = expires
            row.secret_hash = secret_hash(secret)
            row.version += 1
            row.updated_at = now
            return IssuedSecret(to_service_account(row), secret, expires)

    async def delete(self, ref: str, *, etag: str) -> None:
        account_id = parse_id(ref, field="id")
        async with self._db.transaction() as session:
            accounts = ServiceAccountRepository(session)
            await accounts.delete(await self._locked(accounts, account_id, etag))

    async def _locked(
        self, accounts: ServiceAccountRepository, account_id: uuid.UUID, etag: str
    ) -> ServiceAccountRow:
        row = await accounts.get_for_update(account_id)
        if row is None:
            raise account_not_found()
        if etag and etag != to_service_account(row).etag:
            raise Aborted("the service account changed meanwhile; re-read it and try again")
        return row

    # -- client credentials ----------------------------------------------------------------

    async def issue_token(
        self, client_id: str, client_secret: str, scopes: Sequence[str], client: ClientInfo
    ) -> TokenPair:
        require_text(client_id, field="client_id", max_length=MAX_CLIENT_ID_LENGTH)
        require_text(client_secret, field="client_secret", max_length=MAX_SECRET_LENGTH)
        # Unknown client ids are counted too, so throttling reveals nothing about which exist.
        counters = [
            (self._limits.service_client, subject_digest(client_id)),
            (self._limits.login_ip, client.ip),
        ]
        if wait := await self._limiter.retry_after(counters):
            raise rate_limited(wait)
        presented = secret_hash(client_secret)
        async with self._db.read() as session:
            row = await ServiceAccountRepository(session).get_by_client_id(client_id)
            now = self._clock()
            if row is None:
                hmac.compare_digest(presented, _DUMMY_HASH)  # the same work as a wrong secret
                matched = False
            else:
                matched = _secret_matches(row, presented, now)
        if row is None or not matched:
            await self._limiter.hit(counters)
            raise invalid_client()
        await self._limiter.reset(*counters[0])
        if row.state is not ServiceAccountState.ACTIVE:
            raise Unauthenticated(
                "this service account is disabled", reason="SERVICE_ACCOUNT_DISABLED"
            )
        held = row.scopes.split()
        wanted = check_requested(scopes, held)
        if row.tokens_revoked_at is not None:
            # A token is refused when iat <= the mark (whole seconds): start after the mark.
            now = max(now, _whole_second(row.tokens_revoked_at) + dt.timedelta(seconds=1))
        issued = self._codec.issue(str(row.id), now=now, ttl=self._token_ttl, scopes=wanted)
        return TokenPair(
            access_token=issued.token,
            access_expires_at=issued.expires_at,
            refresh_token="",
            refresh_expires_at=None,
            session_id=None,
        )

    async def token_live(self, subject: str, issued_at: dt.datetime) -> str | None:
        """The account's client id when its token issued at `issued_at` may still be honoured;
        None when the account is gone or disabled, or revoked its tokens since."""
        try:
            account_id = uuid.UUID(subject)
        except ValueError:
            return None
        async with self._db.read() as session:
            row = await ServiceAccountRepository(session).get(account_id)
            if row is None or row.state is not ServiceAccountState.ACTIVE:
                return None
            mark, client_id = row.tokens_revoked_at, row.client_id
        if mark is not None and issued_at <= _whole_second(mark):
            return None
        return client_id


def check_requested(requested: Sequence[str], held: Sequence[str]) -> tuple[str, ...]:
    """The scopes to grant: all the account holds when none are asked for, else exactly those."""
    if not requested:
        return tuple(sorted(held))
    missing = sorted(set(requested) - set(held))
    if missing:
        raise PermissionDenied(
            f"this service account does not hold {', '.join(s[:40] for s in missing)}",
            reason="SCOPE_NOT_GRANTED",
        )
    return tuple(sorted(set(requested)))


def _secret_matches(row: ServiceAccountRow, presented: bytes, now: dt.datetime) -> bool:
    current = hmac.compare_digest(presented, row.secret_hash)
    previous = (
        row.previous_secret_hash is not None
        and row.previous_secret_expires_at is not None
        and now < row.previous_secret_expires_at
        and hmac.compare_digest(presented, row.previous_secret_hash)
    )
    return current or previous


def _whole_second(value: dt.datetime) -> dt.datetime:
    return value.replace(microsecond=0)
