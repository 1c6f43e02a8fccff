"""`userservice-client`: userservice from the command line, for people and for scripts.

    userservice-client --address us.internal:50051 login --email ada@example.com
    userservice-client whoami
    userservice-client users list --all --json | jq -r '.users[].email'

`login` saves the session's token pair to a file readable by its owner only
($USERSERVICE_TOKEN_FILE, default ~/.config/userservice/token.json); later commands call as
that user, renewing an expired access token by themselves and saving the new pair. Passwords
come from $USERSERVICE_PASSWORD (and $USERSERVICE_NEW_PASSWORD for a new one), else one line
each from stdin when it is not a terminal, else a prompt that does not echo; never from a flag.

Output is a table for people; `--json` prints JSON for scripts (protobuf messages under their
proto field names). A failure prints one line on stderr (then `  field: description` for each
bad field); with `--json`, a JSON object {code, reason, message, field_violations} on stderr.

Exit status:

    0  success
    1  the server refused (any error reason not listed below), or a local step failed
       (the token file could not be written, a deletion was not confirmed)
    2  usage error (bad arguments, a password that was needed but not given)
    3  not logged in, or the session ended (UNAUTHENTICATED: wrong email or password,
       expired or revoked session, disabled account)
    4  permission denied (PERMISSION_DENIED)
    5  not found (NOT_FOUND)
    6  rate limited (RESOURCE_EXHAUSTED): wait the time the message names
    7  unavailable or too slow (UNAVAILABLE, DEADLINE_EXCEEDED)
"""

from userservice_client.cli.entrypoint import main

__all__ = ["main"]
