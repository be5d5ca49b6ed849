"""Typed errors that a user or a peer can cause.

How this works: every error carries a stable `code` (part of the interface contract: scripts and
other communities match on it) and a message that says what to do. `RemoteError` subclasses mean
someone else sent bad data; `LocalError` subclasses mean this node's own state or configuration
refuses the action. HTTP status codes live here so the API maps errors in one place.
"""


class TallyError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, **detail: object) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def to_json(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message, **self.detail}


class RemoteError(TallyError):
    """A peer or client sent data that does not verify or does not decode."""


class LocalError(TallyError):
    """This node refuses the request given its own state or configuration."""


class MalformedError(RemoteError):
    code = "malformed"


class UnknownKindError(RemoteError):
    code = "unknown_kind"


class NonCanonicalError(RemoteError):
    code = "non_canonical"


class UnsupportedVersionError(RemoteError):
    code = "unsupported_version"


class TooLargeError(RemoteError):
    code = "too_large"
    http_status = 413


class BadSignatureError(RemoteError):
    code = "bad_signature"


class ChainError(RemoteError):
    code = "chain_broken"


class WrongFeedError(RemoteError):
    code = "wrong_feed"


class PersonalInClearError(RemoteError):
    """A new intent carries a name, memo or text in clear: the log would then hold it for every
    replica to read (docs/protocol.md §19)."""

    code = "personal_in_clear"
    http_status = 422


class BadIdError(RemoteError):
    code = "bad_id"
