"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records mail and refuses on cue.

Django's own SMTP ``EmailBackend`` talks to it over a socket, so the email
notifier's tests exercise smtplib's replies and errors, not a mock of them::

    with SMTPServer() as smtp:
        smtp.refuse_recipient("gone@example.com", "550 5.1.1 No such user")
        smtp.refuse_data("451 4.3.0 Try again later", times=1)
        with override_settings(**smtp.settings()):
            ...
        smtp.messages          # every accepted message, parsed
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from django.core import mail

from tests.support.ports import free_port

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    data_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self.lock:
            reply = self.refused.get(address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self.lock:
            reply = self.refused.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            parsed = email.message_from_bytes(
                envelope.content, policy=email.policy.default
            )
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"


class SMTPServer:
    """An aiosmtpd server in a thread; a context manager."""

    def __init__(self) -> None:
        self.port = free_port()
        self._handler = _Handler()
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port
        )

    def __enter__(self) -> SMTPServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def messages(self) -> list[Received]:
        """Every message accepted so far, oldest first."""
        with self._handler.lock:
            return list(self._handler.messages)

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer RCPT TO for ``address`` with ``reply`` (e.g. ``"550 No such user"``)."""
        with self._handler.lock:
            self._handler.refused[address] = reply

    def refuse_sender(self, address: str, reply: str) -> None:
        """Answer MAIL FROM for ``address`` with ``reply``."""
        self.refuse_recipient(address, reply)

    def accept_recipient(self, address: str) -> None:
        """Stop refusing ``address``."""
        with self._handler.lock:
            self._handler.refused.pop(address, None)

    def refuse_data(self, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` DATA commands with ``reply``."""
        with self._handler.lock:
            self._handler.data_replies.extend([reply] * times)

    def delay_data(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each DATA (to make a client time out)."""
        self._handler.data_delay = seconds

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Django settings that send mail through this server with the SMTP backend."""
        return self.settings_for_port(self.port, **extra)

    @staticmethod
    def settings_for_port(port: int, **extra: Any) -> dict[str, Any]:
        """Django settings for the SMTP backend and a server on ``port`` of 127.0.0.1."""
        sender = {"DEFAULT_FROM_EMAIL": "Dispatch <dispatch@example.com>"}
        if hasattr(mail, "mailers"):
            # Django 6.1 deprecates the EMAIL_* settings for MAILERS.
            smtp = {"host": "127.0.0.1", "port": port, "use_tls": False}
            mailers = {"default": {"BACKEND": SMTP_BACKEND, "OPTIONS": smtp}}
            return {"MAILERS": mailers, **sender, **extra}
        return {
            "EMAIL_BACKEND": SMTP_BACKEND,
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": port,
            "EMAIL_USE_TLS": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
            **sender,
            **extra,
        }
