"""A consumer of the SDK that misuses it: mypy must flag every line marked `# expected: error`.

Type-checked (never run) by tests/unit/test_sdk_typing.py, which compares the line numbers.
"""

from __future__ import annotations

from userservice.v1 import user_pb2
from userservice_client import (
    AsyncUserServiceClient,
    TokenRejected,
    TokenVerifier,
    UserServiceClient,
)


async def misuse(client: AsyncUserServiceClient) -> None:
    await client.get_user(123)  # expected: error
    await client.get_usr()  # expected: error
    await client.create_user("a@example.com", "password", displayname="A")  # expected: error
    user: user_pb2.User = client.get_user()  # expected: error
    await client.update_user("me", role="admin")  # expected: error
    pair = await client.login("a@example.com", "password")
    expires: int = pair.access_token  # expected: error
    page = await client.list_users(page_size="10")  # expected: error
    print(user, expires, page.users[0].nickname)  # expected: error


def blocking(client: UserServiceClient) -> None:
    client.delete_user(etag=1)  # expected: error
    for user in client.iter_users(filter=None):  # expected: error
        print(user.id)


async def verify(verifier: TokenVerifier) -> None:
    token = await verifier.verify("token")
    subject: int = token.subject  # expected: error
    print(subject)
    raise TokenRejected("NOT_A_REASON")  # expected: error
