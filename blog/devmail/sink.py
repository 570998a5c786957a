"""The development mail sink: an SMTP server on loopback that keeps every message as a file.

`make run` starts one in the launcher when BLOG_SMTP_URL is unset and points the web, worker and
cron processes at it; /dev/mail (views.py) shows what it caught. aiosmtpd is a development
dependency, so it is imported only when a sink starts: production never loads this module.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

HOST = "127.0.0.1"
# `<UTC timestamp>-<random>.eml`: names sort by arrival, and two messages in the same
# microsecond still get two files.
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S.%fZ"


class MailSinkError(RuntimeError):
    pass


def message_file_name(received_at: datetime) -> str:
    return f"{received_at.strftime(TIMESTAMP_FORMAT)}-{secrets.token_hex(3)}.eml"


def store_message(directory: Path, content: bytes, *, mail_from: str, rcpt_tos: list[str]) -> Path:
    """Write one received message under `directory`; returns the file's path.

    The envelope is kept in X-MailFrom / X-RcptTo headers (as aiosmtpd's own Message handler
    names them), so a Bcc recipient shows up too. Written to a dot-file and renamed, so a reader
    never sees half a message.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / message_file_name(datetime.now(UTC))
    envelope = f"X-MailFrom: {mail_from}\r\nX-RcptTo: {', '.join(rcpt_tos)}\r\n".encode()
    partial = directory / f".{path.name}.part"
    partial.write_bytes(envelope + content)
    os.replace(partial, path)
    return path


class _Handler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        store_message(
            self.directory,
            envelope.content,  # bytes, as the controller is not asked to decode
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
        )
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class MailSink:
    """An aiosmtpd server in a thread of this process, storing mail under `directory`."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory.resolve()
        self.port = port
        self._controller: Any = None

    @property
    def url(self) -> str:
        assert self.port is not None, "start() first"
        return f"smtp://{HOST}:{self.port}"

    def start(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise MailSinkError(
                "the mail sink needs the 'aiosmtpd' package (a dev dependency): run `make install`"
            ) from None
        self.directory.mkdir(parents=True, exist_ok=True)
        # aiosmtpd cannot listen on port 0 (it connects to its own port to check it is up), so
        # pick a free port and retry if another process takes it in between.
        attempts = 1 if self.port else 5
        for attempt in range(attempts):
            port = self.port or _free_port()
            controller = Controller(
                _Handler(self.directory), hostname=HOST, port=port, enable_SMTPUTF8=True
            )
            try:
                controller.start()
            except (OSError, RuntimeError) as exc:
                controller.loop.close()
                if attempt == attempts - 1:
                    raise MailSinkError(
                        f"the mail sink cannot listen on {HOST}:{port}: {exc}"
                    ) from exc
                continue
            self.port, self._controller = port, controller
            return

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        self.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.stop()
