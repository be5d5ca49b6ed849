"""Every refusal replication answers, each with its stable code and HTTP status (protocol.md §16.2).

How this works: a `RemoteError` is the sender's fault (a peer or a stranger sent something this node
must refuse: a bad signature, a frozen feed, a run that breaks a community's rules); a `LocalError`
is this node's own state or configuration (its limits, its disk, a stale home). The API middleware
(node/api.py) answers each as `{"error": code, "message": …, **detail}`; a pushing node reads the
code back (`per_feed_refusals`) to learn whether to stop pushing one feed or to re-read the heads.
"""

from __future__ import annotations

from tallystick.ledger.errors import DomainError
from tallystick.protocol.errors import LocalError, RemoteError
from tallystick.protocol.ids import id_to_text


class StaleHomeError(LocalError):
    code = "stale_home"
    http_status = 409  # retrying cannot help: the operator must act (restore), so no 503


class NotFollowedError(RemoteError):
    code = "not_followed"
    http_status = 409


class FeedFrozenError(RemoteError):
    code = "feed_frozen"
    http_status = 409


class ReplicaBreaksRuleError(RemoteError):
    """A run of another community's feed that its own rules refuse (`node/domain.py: audit`).

    The fault is the feed's author's, and whoever sends the run may only relay it: answered with the
    rule's own code (`debit_limit`), the sender would read that it broke the rule itself. So the code
    is this one, the message names the feed and the rule's code, and the detail keeps the rule's code
    (`rule`) and its words (`rule_message`). The message never quotes the rule's words, which may
    name a member: it goes to the log of a node whose peer sent the run."""

    code = "replica_breaks_rule"
    http_status = 422

    def __init__(self, feed: bytes, start: int, rule: DomainError) -> None:
        feed_text = id_to_text("n", feed)
        super().__init__(
            f"feed {feed_text} breaks its community's rule {rule.code} in the run from seq {start}: nothing of "
            "the run was kept. Its author wrote it; a node that sends it may only relay it. Tell the feed's "
            "operator (the rule's words are in rule_message)",
            feed=feed_text, start=start, rule=rule.code, rule_message=rule.message,
        )
        self.rule = rule


# ---- refusals of pushes and fork proofs (403: who sends, or what, has no standing here) ---------


class UnsignedRequestError(RemoteError):
    code = "unsigned_request"
    http_status = 403


class BadRequestSignatureError(RemoteError):
    code = "bad_request_signature"
    http_status = 403


class RequestExpiredError(RemoteError):
    code = "request_expired"
    http_status = 403


class ReplayedRequestError(RemoteError):
    code = "replayed_request"
    http_status = 403


class UnknownPeerError(RemoteError):
    code = "unknown_peer"
    http_status = 403


class NoReasonError(LocalError):
    code = "no_reason"
    http_status = 403


class FeedsLimitError(LocalError):
    code = "feeds_limit"
    http_status = 403


class StoreFailedError(LocalError):
    """The store could not commit (a full disk, say): nothing of the run was kept, here or in memory."""

    code = "store_failed"
    http_status = 503


class HeldEventsUnreadError(LocalError):
    """The store answered fewer of a feed's held events than its replica holds, while a run that
    overlaps them was compared: nothing of the run was taken; the sender retries (503)."""

    code = "busy"
    http_status = 503


# Refusals that concern one pushed feed, not the pushing node: the pusher stops pushing that feed.
per_feed_refusals = (NotFollowedError.code, NoReasonError.code, FeedsLimitError.code)
