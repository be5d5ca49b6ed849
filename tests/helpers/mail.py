"""A real SMTP server on loopback (aiosmtpd) for the tests that read what a node mails
(docs/notifications.md, "E-mail"): it keeps every mail it is given, parsed, and refuses for good
(550) any recipient whose address starts with `nobody`."""

from __future__ import annotations

import email
import email.policy
import threading
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    """What the SMTP server was given, as parsed mails."""

    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address.startswith("nobody"):
            return "550 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """Each mail to `address`: its subject, a line break and its body, lines ending in \\n."""
        with self.lock:
            # The body's lines as a person reads them (the wire's CRLF as \n).
            return [f"{mail['Subject']}\n{mail.get_content()}".replace("\r\n", "\n") for mail in self.mails
                    if mail["To"] == address]


class SmtpServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def config(self, sender: str) -> dict[str, Any]:
        """The `smtp` of a node's config.json that mails through this server."""
        return {"host": "127.0.0.1", "port": self.port, "from": sender}
