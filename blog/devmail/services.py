"""The mailbox: reading and clearing the directory the development mail sink writes to.

A message is addressed only by a name taken from the directory listing, never by a path built
from the request, so no name can reach outside the directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesHeaderParser, BytesParser
from pathlib import Path

from blog.devmail.sink import TIMESTAMP_FORMAT


@dataclass(frozen=True)
class MailSummary:
    name: str
    received_at: datetime
    sender: str
    recipients: str
    subject: str
    size: int


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MailMessage:
    summary: MailSummary
    cc: str
    date: str
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    attachments: list[Attachment] = field(default_factory=list)


def _mail_files(directory: Path) -> list[os.DirEntry[str]]:
    """The stored messages, newest first. Dot-files are messages still being written."""
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    files = [
        e
        for e in entries
        if e.name.endswith(".eml")
        and not e.name.startswith(".")
        # A symlink could point anywhere on the machine: only plain files are mail.
        and e.is_file(follow_symlinks=False)
    ]
    return sorted(files, key=lambda e: e.name, reverse=True)


def _received_at(entry: os.DirEntry[str]) -> datetime:
    stamp = entry.name.split("-", 1)[0]
    try:
        return datetime.strptime(stamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:  # a file someone copied in by hand
        return datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime, UTC)


def _header(message: Message, name: str) -> str:
    """A header's decoded value; the raw text when it is too malformed to decode."""
    try:
        return str(message.get(name, ""))
    except Exception:  # noqa: BLE001 - the email package raises many kinds on bad headers
        raw = next((v for k, v in message.raw_items() if k.lower() == name.lower()), "")
        return str(raw)


def _summary(entry: os.DirEntry[str], message: Message) -> MailSummary:
    return MailSummary(
        name=entry.name,
        received_at=_received_at(entry),
        sender=_header(message, "From") or _header(message, "X-MailFrom"),
        recipients=_header(message, "To") or _header(message, "X-RcptTo"),
        subject=_header(message, "Subject"),
        size=entry.stat(follow_symlinks=False).st_size,
    )


def list_messages(directory: Path, limit: int) -> tuple[list[MailSummary], int]:
    """The newest `limit` messages (headers only) and how many are stored in all."""
    files = _mail_files(directory)
    summaries = []
    for entry in files[:limit]:
        try:
            with open(entry.path, "rb") as fh:
                headers = BytesHeaderParser(policy=policy.default).parse(fh)
        except FileNotFoundError:  # deleted since the listing
            continue
        summaries.append(_summary(entry, headers))
    return summaries, len(files)


def _find(directory: Path, name: str) -> os.DirEntry[str] | None:
    return next((e for e in _mail_files(directory) if e.name == name), None)


def get_message_path(directory: Path, name: str) -> Path | None:
    """The file of the message called `name`, if the directory holds one by that name."""
    entry = _find(directory, name)
    return Path(entry.path) if entry else None


def _all_headers(message: Message) -> list[tuple[str, str]]:
    headers = []
    for key, raw in message.raw_items():
        try:
            value = str(message.policy.header_fetch_parse(key, raw))
        except Exception:  # noqa: BLE001 - as in _header()
            value = str(raw)
        headers.append((key, value))
    return headers


def _part_text(part: MIMEPart | None) -> str | None:
    if part is None:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # an unknown or lying charset
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def get_message(directory: Path, name: str) -> MailMessage | None:
    """The whole message called `name`, parsed; None if there is no such message."""
    entry = _find(directory, name)
    if entry is None:
        return None
    try:
        with open(entry.path, "rb") as fh:
            message = BytesParser(policy=policy.default).parse(fh)
    except FileNotFoundError:
        return None
    assert isinstance(message, EmailMessage)
    attachments = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        attachments.append(
            Attachment(
                filename=part.get_filename() or "(no name)",
                content_type=part.get_content_type(),
                size=len(payload) if isinstance(payload, bytes) else 0,
            )
        )
    return MailMessage(
        summary=_summary(entry, message),
        cc=_header(message, "Cc"),
        date=_header(message, "Date"),
        headers=_all_headers(message),
        text=_part_text(message.get_body(preferencelist=("plain",))),
        html=_part_text(message.get_body(preferencelist=("html",))),
        attachments=attachments,
    )


def delete_messages(directory: Path) -> int:
    """Delete every stored message; returns how many went."""
    deleted = 0
    for entry in _mail_files(directory):
        try:
            os.unlink(entry.path)
        except FileNotFoundError:
            continue
        deleted += 1
    return deleted
