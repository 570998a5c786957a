"""VAPID (RFC 8292) application server keys: P-256 key pairs in the encodings browsers and
push libraries use.

The private key travels as the base64url of its 32-byte scalar (pywebpush accepts it as is);
the public key as the base64url of the uncompressed point (65 bytes, 0x04 first), which is the
`applicationServerKey` that `PushManager.subscribe()` takes.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


class VapidKeyError(ValueError):
    """The text is not a P-256 private key in an encoding we read."""


@dataclass(frozen=True)
class VapidKey:
    private_b64: str
    public_b64: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url with or without padding; raises ValueError on anything else."""
    cleaned = text.strip()
    if not cleaned or any(c not in _B64URL for c in cleaned.rstrip("=")):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def generate_private_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def public_key_b64(key: ec.EllipticCurvePublicKey) -> str:
    return b64url(
        key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def load_private_key(text: str) -> VapidKey:
    """Read a P-256 private key: base64url of the 32-byte value or of DER, or a PEM block."""
    text = text.strip()
    key: object
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = b64url_decode(text)
            if len(raw) == 32:
                value = int.from_bytes(raw, "big")
                key = ec.derive_private_key(value, ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError) as exc:
        raise VapidKeyError(
            "expected the base64url of a 32-byte P-256 private key (or a PEM block); "
            f"generate one with `python -c 'from blog.core.vapid import generate_private_key; "
            f"print(generate_private_key())'` ({exc.__class__.__name__})"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise VapidKeyError("the key is not an elliptic-curve key on P-256 (prime256v1)")
    private = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    return VapidKey(private_b64=private, public_b64=public_key_b64(key.public_key()))
