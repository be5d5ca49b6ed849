"""A small HTTP client for the node's JSON API, used by the `tally` command.

How this works: each call is one request on a connection of its own (http.client); a JSON error body from
the node becomes a `NodeRefused`, a typed error (`LocalError`) carrying the node's stable `error` code
and message, so the CLI can print one line and exit non-zero. A refusal of a signed intent (`signed`)
is the node judging an action by the community's rules; a refusal of a read names something that is
not there (a member, a decision), which is the user's mistake (`NodeRefused.is_mistake`). The URL is
checked when the client is made, so `--node 127.0.0.1:7600` is one line saying to write
`http://127.0.0.1:7600`, not a traceback.
Intents are signed here, with the member's own key file: the node never sees a member's secret key.
A client made with a key also signs every other request (protocol/requests.py, docs/protocol.md
§18), so the node reads it as that member and shows what the community's visibility policy lets
them see; without a key it reads as a stranger. The community's document is public, so the node id
the signature names is read unsigned.
The community's document (`/api/community`: its node id, unit, default limits) is read once per
client (`community`), so a command that needs its unit and then signs asks for it once.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from tallystick.protocol.codec import sign_member_intent
from tallystick.protocol.errors import LocalError
from tallystick.protocol.events import Action
from tallystick.protocol.ids import KeyPair, id_from_text
from tallystick.protocol.requests import sign_request

request_timeout_seconds = 30


class NodeRefused(LocalError):
    """The node answered with an error: its stable `code` and message exactly as it sent them, the
    HTTP status, and whether the request was a signed intent (`signed`)."""

    code = "refused"  # the class's; each refusal carries the node's own code

    def __init__(self, status: int, code: str, message: str, *, signed: bool = False) -> None:
        super().__init__(message)
        self.code, self.http_status, self.signed = code, status, signed

    @property
    def status(self) -> int:
        return self.http_status

    @property
    def is_mistake(self) -> bool:
        """A read the node answers 4xx named something that is not there (a member, a decision, an
        enterprise): the user's mistake. A signed intent it refuses was judged by the rules, and a
        5xx or 429 is the node's state, not what was typed."""
        return not self.signed and 400 <= self.status < 500 and self.status != 429


class NodeUnreachable(LocalError):
    code = "unreachable"


class BadUrlError(LocalError):
    code = "bad_url"


def check_node_url(text: str, what: str = "--node") -> str:
    """`text` if it is an http(s) URL with a host; else a BadUrlError saying what to write."""
    parts = urlsplit(text.strip())
    if parts.scheme in ("http", "https") and parts.hostname:
        return text.strip().rstrip("/")
    suggestion = "http://" + text.strip().split("://", 1)[-1] if text.strip() else "http://127.0.0.1:7600"
    raise BadUrlError(f"{text!r} is not a node's URL; write {what} {suggestion}")


def _unreachable(base_url: str, error: BaseException) -> NodeUnreachable:
    if isinstance(error, TimeoutError | socket.timeout):
        why = f"no answer in {request_timeout_seconds} s"
    elif isinstance(error, OSError) and error.errno:
        why = os.strerror(error.errno).lower()
    else:
        why = type(error).__name__
    return NodeUnreachable(
        f"no node answers at {base_url} ({why}); start it with `tally serve DIR`, or give the right --node URL"
    )


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


class Client:
    """One request a call, on a connection of its own (http.client: a `tally` command starts in a
    fraction of the time an aiohttp session takes to import, and makes a handful of requests)."""

    def __init__(self, base_url: str, key: KeyPair | None = None) -> None:
        self.base_url = check_node_url(base_url)
        self._parts = urlsplit(self.base_url)
        self._community: dict[str, Any] | None = None
        self.key = key  # signs every request but the community's document; None: a stranger's reads
        # The kinds of personal data the node left out of any answer so far, for this reader
        # (its Tally-Hidden header, node/visible.py): the command says so in one line.
        self.hidden: set[str] = set()

    def _signed_headers(self, method: str, target: str, body: bytes | None,
                        headers: dict[str, str] | None) -> dict[str, str]:
        headers = dict(headers or {})
        if self.key is not None and not target.endswith("/api/community"):
            feed = id_from_text("n", self.community()["node"])
            headers["Authorization"] = sign_request(
                self.key, node=feed, method=method, target=target, ts_ms=time.time_ns() // 1_000_000,
                body=body or b"",
            )
        return headers

    def _exchange(self, method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """The status and body of one request; a node that does not answer is NodeUnreachable."""
        parts = self._parts
        target = parts.path.rstrip("/") + path
        headers = self._signed_headers(method, target, body, headers)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(parts.hostname or "", parts.port, timeout=request_timeout_seconds)
        try:
            connection.request(method, target, body=body, headers=headers)
            response = connection.getresponse()
            self.hidden.update(kind for kind in (response.getheader("Tally-Hidden") or "").split(",") if kind)
            return response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            raise _unreachable(self.base_url, error) from None
        finally:
            connection.close()

    def _request(self, method: str, path: str, *, signed: bool = False, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> Any:
        status, raw = self._exchange(method, path, body, headers)
        document = _json_or_none(raw)
        if status >= 400:
            if isinstance(document, dict) and "error" in document:
                raise NodeRefused(status, str(document["error"]), str(document.get("message")), signed=signed)
            if status == 404 and document is None:
                raise NodeUnreachable(
                    f"{self.base_url} answers, but it is not a Tallystick node; give the node's URL with --node"
                )
            raise NodeRefused(status, "http_error", f"HTTP {status}", signed=signed)
        if document is None:
            raise NodeUnreachable(
                f"{self.base_url} answers, but it is not a Tallystick node; give the node's URL with --node"
            )
        return document

    def get(self, path: str, **params: Any) -> Any:
        query = {k: str(v) for k, v in params.items() if v is not None}
        return self._request("GET", path + ("?" + urlencode(query) if query else ""))

    def post_json(self, path: str, document: Any) -> Any:
        return self._request("POST", path, signed=True, body=json.dumps(document).encode(),
                             headers={"Content-Type": "application/json"})

    def get_text(self, path: str) -> str:
        """A document that is not JSON (a CSV export); errors still come as JSON."""
        status, raw = self._exchange("GET", path)
        if status >= 400:
            document = _json_or_none(raw)
            if isinstance(document, dict) and "error" in document:
                raise NodeRefused(status, str(document["error"]), str(document.get("message")))
            raise NodeRefused(status, "http_error", f"HTTP {status}")
        return raw.decode("utf-8", errors="replace")

    def community(self) -> dict[str, Any]:
        """The community's document, `/api/community`, read on first use and kept: its node id and
        unit never change, and one command reads it once (its default limits as they were then)."""
        if self._community is None:
            self._community = self.get("/api/community")
        return self._community

    def submit(self, key: KeyPair, action: Action) -> Any:
        feed = id_from_text("n", self.community()["node"])
        # A nanosecond clock gives nonces that only grow, inside the node's per-member window.
        intent = sign_member_intent(key, feed=feed, nonce=time.time_ns(), action=action)
        return self._request(
            "POST", "/api/intents", signed=True, body=intent, headers={"Content-Type": "application/msgpack"}
        )
