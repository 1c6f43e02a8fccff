"""The domain errors a unique violation means, raised by every implementation of the repositories
(the SQL one here, the in-memory one of the unit tests) so that services see one answer."""

from __future__ import annotations

from server.errors import AlreadyExists, Reason


def email_taken() -> AlreadyExists:
    return AlreadyExists("a user with this email already exists", reason=Reason.EMAIL_TAKEN)


def request_already_recorded() -> AlreadyExists:
    # Never reaches a caller as such: the service replays the recorded answer instead.
    return AlreadyExists("this request_id already has a recorded answer")
