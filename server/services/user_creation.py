"""Creating a user (CreateUser and `create-admin`): the password policy, the idempotent
request_id, the hash, and the insert with its event."""

from __future__ import annotations

import dataclasses

from server.cache.users import decode_user, encode_user
from server.clock import Clock
from server.domain import EventType, Party, Principal, Role, User
from server.errors import AlreadyExists
from server.security.password_policy import PasswordPolicy
from server.security.passwords import HashingSlot
from server.services.event_log import new_event
from server.services.idempotency import IdempotentRequest, recorded_answer
from server.services.unit_of_work import UnitOfWorkFactory


class UserCreation:
    def __init__(
        self,
        *,
        units: UnitOfWorkFactory,
        policy: PasswordPolicy,
        fingerprint_key: bytes,
        clock: Clock,
    ) -> None:
        self._units = units
        self._policy = policy
        self._fingerprint_key = fingerprint_key
        self._clock = clock

    async def create(
        self,
        email: str,
        password: str,
        display_name: str,
        role: Role,
        key: str | None,
        principal: Principal | None,
        hashing: HashingSlot,
        *,
        actor: Party,
        verified: bool = False,
    ) -> User:
        """Checks the password, answers a replayed request_id as it was answered, hashes, and
        adds the user with its user.created event (and the request's answer) in one commit."""
        self._policy.check(password, email=email)
        caller = principal.subject if principal else "anonymous"
        # The password is covered too, by an HMAC under a server key (see idempotency.py).
        fields = (email, password, display_name, role)
        request = (
            None
            if key is None
            else IdempotentRequest.of(self._fingerprint_key, "CreateUser", caller, key, *fields)
        )
        if request is not None and (replay := await self.replay(request)):
            return replay

        password_hash = await hashing.hash(password)  # before the transaction: ~30 ms of CPU
        try:
            async with self._units.transaction() as uow:
                now = self._clock()
                user = await uow.users.add(
                    email=email,
                    password_hash=password_hash,
                    display_name=display_name,
                    role=role,
                    now=now,
                )
                if verified:
                    user = dataclasses.replace(user, email_verified=True)
                    await uow.users.save(user)
                if request is not None:
                    await uow.idempotency.add(request.answered(encode_user(user), now))
                uow.events.append(
                    new_event(
                        EventType.USER_CREATED,
                        actor=actor,
                        target=Party.user(user.id),
                        now=now,
                        data={"role": role.value},
                    )
                )
        except AlreadyExists:
            # A concurrent call with the same request_id committed first: answer as it did.
            if request is not None and (replay := await self.replay(request)):
                return replay
            raise
        return user

    async def replay(self, request: IdempotentRequest) -> User | None:
        answer = await recorded_answer(self._units, request, self._clock())
        return None if answer is None else decode_user(answer)
