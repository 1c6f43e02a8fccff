"""Service accounts: admin management, client-credentials tokens, and the per-call liveness check.

A client secret is shown once; client_secrets.py holds how it is stored and compared. Revocation
is a per-account mark, `tokens_revoked_at`: a token issued at or before that second is refused.
Every call with a service token reads the account row, so a disabled or deleted account is
refused on the next call on every replica (they share the database).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hmac
import secrets
import uuid
from collections.abc import Sequence

from server.cache.rate_limit import RateLimiter, ip_subject, subject_digest
from server.clock import Clock
from server.domain import (
    ClientInfo,
    EventType,
    IssuedSecret,
    Party,
    ServiceAccount,
    ServiceAccountChanges,
    ServiceAccountRecord,
    ServiceAccountState,
    TokenPair,
)
from server.errors import Aborted, NotFound, Reason, Unauthenticated
from server.security.tokens import AccessTokenCodec
from server.services.change_events import account_change_events
from server.services.client_secrets import (
    DUMMY_HASH,
    invalid_client,
    secret_hash,
    secret_matches,
    whole_second,
)
from server.services.event_log import new_event
from server.services.inputs import check_display_name, parse_id, require_text
from server.services.limits import Limits, rate_limited
from server.services.paging import PageTokens, keyset_page, page_size
from server.services.scopes import check_requested, check_scope_count, check_scopes
from server.services.unit_of_work import ServiceAccountRepository, UnitOfWorkFactory

CLIENT_ID_PREFIX = "svc_"
MAX_CLIENT_ID_LENGTH = 64
MAX_SECRET_LENGTH = 128
_PAGE_QUERY = "service_accounts"


def account_not_found() -> NotFound:
    return NotFound("no such service account", reason=Reason.SERVICE_ACCOUNT_NOT_FOUND)


class ServiceAccountService:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        codec: AccessTokenCodec,
        limiter: RateLimiter,
        limits: Limits,
        page_tokens: PageTokens,
        token_ttl: dt.timedelta,
        secret_grace: dt.timedelta,
        clock: Clock,
    ) -> None:
        self._units = units
        self._codec = codec
        self._limiter = limiter
        self._limits = limits
        self._page_tokens = page_tokens
        self._token_ttl = token_ttl
        self._secret_grace = secret_grace
        self._clock = clock

    # -- administration (the policy table admits administrators only) ----------------------

    async def create_service_account(
        self, *, display_name: str, scopes: Sequence[str]
    ) -> IssuedSecret:
        name = check_display_name(display_name)
        granted = check_scopes(scopes, field="scopes")
        secret = secrets.token_urlsafe(32)
        async with self._units.transaction() as uow:
            now = self._clock()
            account = await uow.service_accounts.add(
                client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(16),
                display_name=name,
                scopes=granted,
                secret_hash=secret_hash(secret),
                now=now,
            )
            uow.events.append(
                new_event(
                    EventType.SERVICE_ACCOUNT_CREATED,
                    target=Party.service_account(account.id),
                    now=now,
                    data={"scopes": list(granted)},
                )
            )
        return IssuedSecret(account, secret)

    async def get_service_account(self, ref: str) -> ServiceAccount:
        account_id = parse_id(ref, field="id")
        async with self._units.read() as uow:
            record = await uow.service_accounts.get(account_id)
        if record is None:
            raise account_not_found()
        return record.account

    async def list_service_accounts(
        self, *, size: int, token: str
    ) -> tuple[list[ServiceAccount], str]:
        limit = page_size(size)
        after = self._page_tokens.decode_id(token, _PAGE_QUERY)
        async with self._units.read() as uow:
            return await keyset_page(
                lambda n: uow.service_accounts.page(after=after, limit=n),
                limit=limit,
                next_token=lambda last: self._page_tokens.encode(_PAGE_QUERY, last.id),
            )

    async def update_service_account(
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
        async with self._units.transaction() as uow:
            record = await _locked(uow.service_accounts, account_id, etag)
            now, before = self._clock(), record.account
            lost_scopes = scopes is not None and not set(before.scopes) <= set(scopes)
            disabled = (
                changes.state is ServiceAccountState.DISABLED
                and before.state is not ServiceAccountState.DISABLED
            )
            account = dataclasses.replace(
                before,
                display_name=before.display_name if name is None else name,
                scopes=before.scopes if scopes is None else scopes,
                state=changes.state or before.state,
                version=before.version + 1,
                updated_at=now,
            )
            # Tokens carry their scopes: those issued before the change must not outlive it.
            revoked_at = now if lost_scopes or disabled else record.tokens_revoked_at
            await uow.service_accounts.save(
                dataclasses.replace(record, account=account, tokens_revoked_at=revoked_at)
            )
            for event in account_change_events(before, account, now):
                uow.events.append(event)
        return account

    async def rotate_service_account_secret(self, ref: str) -> IssuedSecret:
        account_id = parse_id(ref, field="id")
        secret = secrets.token_urlsafe(32)
        async with self._units.transaction() as uow:
            record = await _locked(uow.service_accounts, account_id, "")
            now = self._clock()
            expires = now + self._secret_grace
            account = dataclasses.replace(
                record.account, version=record.account.version + 1, updated_at=now
            )
            await uow.service_accounts.save(
                ServiceAccountRecord(
                    account,
                    secret_hash=secret_hash(secret),
                    previous_secret_hash=record.secret_hash,
                    previous_secret_expires_at=expires,
                    tokens_revoked_at=record.tokens_revoked_at,
                )
            )
            uow.events.append(
                new_event(
                    EventType.SERVICE_ACCOUNT_SECRET_ROTATED,
                    target=Party.service_account(account_id),
                    now=now,
                )
            )
        return IssuedSecret(account, secret, expires)

    async def delete_service_account(self, ref: str, *, etag: str) -> None:
        account_id = parse_id(ref, field="id")
        async with self._units.transaction() as uow:
            await _locked(uow.service_accounts, account_id, etag)
            await uow.service_accounts.delete(account_id)
            uow.events.append(
                new_event(
                    EventType.SERVICE_ACCOUNT_DELETED,
                    target=Party.service_account(account_id),
                    now=self._clock(),
                )
            )

    # -- client credentials ----------------------------------------------------------------

    async def issue_service_token(
        self, client_id: str, client_secret: str, scopes: Sequence[str], client: ClientInfo
    ) -> TokenPair:
        require_text(client_id, field="client_id", max_length=MAX_CLIENT_ID_LENGTH)
        require_text(client_secret, field="client_secret", max_length=MAX_SECRET_LENGTH)
        check_scope_count(scopes, field="scopes")
        presented = secret_hash(client_secret)
        async with self._units.read() as uow:
            record = await uow.service_accounts.get_by_client_id(client_id)
        now = self._clock()
        if record is None:
            hmac.compare_digest(presented, DUMMY_HASH)  # the same work as a wrong secret
        if record is None or not secret_matches(record, presented, now):
            await self._count_failure(client_id, client)
            raise invalid_client()
        account = record.account
        if account.state is not ServiceAccountState.ACTIVE:
            raise Unauthenticated(
                "this service account is disabled", reason=Reason.SERVICE_ACCOUNT_DISABLED
            )
        wanted = check_requested(scopes, account.scopes)
        if record.tokens_revoked_at is not None:
            # A token is refused when iat <= the mark (whole seconds): start after the mark.
            now = max(now, whole_second(record.tokens_revoked_at) + dt.timedelta(seconds=1))
        issued = self._codec.issue(str(account.id), now=now, ttl=self._token_ttl, scopes=wanted)
        async with self._units.transaction() as uow:
            uow.events.append(
                new_event(
                    EventType.SERVICE_TOKEN_ISSUED,
                    actor=Party.service_account(account.id),
                    target=Party.service_account(account.id),
                    now=self._clock(),
                    data={"scopes": list(wanted)},
                )
            )
        return TokenPair(
            access_token=issued.token,
            access_expires_at=issued.expires_at,
            refresh_token="",
            refresh_expires_at=None,
            session_id=None,
        )

    async def _count_failure(self, client_id: str, client: ClientInfo) -> None:
        """Only failures are throttled: a 256-bit secret cannot be guessed, so a correct one
        always gets its token, and nobody can lock a service out by failing on its behalf. An
        unknown client id is counted as a known one is, so throttling reveals nothing."""
        wait = await self._limiter.reserve(
            [
                (self._limits.service_client, subject_digest(client_id)),
                (self._limits.login_ip, ip_subject(client.ip)),
            ]
        )
        if wait:
            raise rate_limited(wait)

    async def token_live(self, subject: str, issued_at: dt.datetime) -> str | None:
        """The account's client id when its token issued at `issued_at` may still be honoured;
        None when the account is gone or disabled, or revoked its tokens since."""
        try:
            account_id = uuid.UUID(subject)
        except ValueError:
            return None
        async with self._units.read() as uow:
            record = await uow.service_accounts.get(account_id)
        if record is None or record.account.state is not ServiceAccountState.ACTIVE:
            return None
        mark, client_id = record.tokens_revoked_at, record.account.client_id
        if mark is not None and issued_at <= whole_second(mark):
            return None
        return client_id


async def _locked(
    accounts: ServiceAccountRepository, account_id: uuid.UUID, etag: str
) -> ServiceAccountRecord:
    record = await accounts.get_for_update(account_id)
    if record is None:
        raise account_not_found()
    if etag and etag != record.account.etag:
        raise Aborted("the service account changed meanwhile; re-read it and try again")
    return record
