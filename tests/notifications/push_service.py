"""A web push service on loopback, and a browser's side of a subscription, for the push tests.

`PushService` is a small HTTP server in a thread that plays a browser vendor's push service:
each subscription gets an endpoint `http://127.0.0.1:<port>/push/<token>`, and a POST there is
checked the way a real push service checks it (RFC 8292: `Authorization: vapid t=<JWT>,
k=<public key>`, the JWT signed ES256 by that key, `aud` the endpoint's origin, `exp` within 24
hours, a `sub` contact; a TTL header) and then decrypted the way the browser would (RFC 8291,
aes128gcm, with the subscription's private key and auth secret, through http_ece). Each
endpoint answers what the test asks (201 by default, or e.g. 410, or 500 every time).

`BrowserKeys` is what a browser makes when it subscribes: an ECDH P-256 key pair and a 16-byte
auth secret; `subscription_json()` is the PushSubscription.toJSON() a page posts to the server.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserKeys:
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth_secret: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        return b64url(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        )

    @property
    def auth(self) -> str:
        return b64url(self.auth_secret)

    def subscription_json(self, endpoint: str) -> dict[str, Any]:
        return {
            "endpoint": endpoint,
            "expirationTime": None,
            "keys": {"p256dh": self.p256dh, "auth": self.auth},
        }


@dataclass
class Received:
    """One POST the push service took (or refused), with what it found in it."""

    token: str
    status: int
    headers: dict[str, str]
    body: bytes
    claims: dict[str, Any] | None = None
    vapid_key: str | None = None
    payload: dict[str, Any] | None = None
    problem: str | None = None  # why a check failed, if one did


@dataclass
class Endpoint:
    keys: BrowserKeys
    statuses: list[int] = field(default_factory=list)  # answered in turn; the last one repeats

    def next_status(self) -> int:
        if not self.statuses:
            return 201
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


class PushService:
    def __init__(self) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = int(self.server.server_address[1])
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -------------------------------------------------------------------- set-up

    def start(self) -> PushService:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_endpoint(self, *statuses: int) -> tuple[str, BrowserKeys]:
        """A new browser subscription: its endpoint URL and its keys."""
        token = b64url(os.urandom(12))
        keys = BrowserKeys()
        with self.lock:
            self.endpoints[token] = Endpoint(keys, list(statuses))
        return f"{self.origin}/push/{token}", keys

    def for_endpoint(self, endpoint: str) -> list[Received]:
        token = endpoint.rsplit("/", 1)[-1]
        with self.lock:
            return [r for r in self.received if r.token == token]

    # -------------------------------------------------------------------- checks

    def _check(self, token: str, headers: dict[str, str], body: bytes) -> Received:
        with self.lock:
            endpoint = self.endpoints.get(token)
        if endpoint is None:
            return Received(token, 404, headers, body, problem="unknown endpoint")
        received = Received(token, 0, headers, body)
        try:
            received.claims, received.vapid_key = self._check_vapid(headers)
            if headers.get("content-encoding") != "aes128gcm":
                raise ValueError(f"content-encoding {headers.get('content-encoding')!r}")
            if not headers.get("ttl", "").isdigit():
                raise ValueError("no TTL header")
            plaintext = http_ece.decrypt(
                body,
                private_key=endpoint.keys.private_key,
                auth_secret=endpoint.keys.auth_secret,
                version="aes128gcm",
            )
            received.payload = json.loads(plaintext)
        except (ValueError, KeyError, InvalidSignature, http_ece.ECEException) as exc:
            received.problem = f"{type(exc).__name__}: {exc}"
            received.status = 400
            return received
        received.status = endpoint.next_status()
        return received

    def _check_vapid(self, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
        """RFC 8292: verify the JWT with the key it names; return its claims and that key."""
        scheme, _, params = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"authorization scheme {scheme!r}")
        fields = dict(part.strip().split("=", 1) for part in params.split(",") if "=" in part)
        token, key_b64 = fields["t"], fields["k"]
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP256R1(), b64url_decode(key_b64)
        )
        header_b64, claims_b64, signature_b64 = token.split(".")
        header = json.loads(b64url_decode(header_b64))
        if header.get("alg") != "ES256":
            raise ValueError(f"JWT alg {header.get('alg')!r}")
        signature = b64url_decode(signature_b64)
        if len(signature) != 64:
            raise ValueError("ES256 signature is not 64 bytes")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        public.verify(
            der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256())
        )  # raises InvalidSignature
        claims = json.loads(b64url_decode(claims_b64))
        if claims.get("aud") != self.origin:
            raise ValueError(f"aud {claims.get('aud')!r} is not {self.origin!r}")
        now = time.time()
        if not now < int(claims.get("exp", 0)) <= now + 24 * 3600:
            raise ValueError(f"exp {claims.get('exp')!r} is not within 24 hours")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise ValueError(f"sub {claims.get('sub')!r}")
        return claims, key_b64

    # -------------------------------------------------------------------- HTTP

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                token = self.path.rsplit("/", 1)[-1] if self.path.startswith("/push/") else ""
                headers = {k.lower(): v for k, v in self.headers.items()}
                received = service._check(token, headers, body)
                with service.lock:
                    service.received.append(received)
                self.send_response(received.status)
                text = (received.problem or "").encode()
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *_args: Any) -> None:
                pass

        return Handler


def serve() -> Iterator[PushService]:
    service = PushService().start()
    try:
        yield service
    finally:
        service.stop()
