"""A small OpenID Connect provider the tests run on loopback: the "Google" of the test suite.

It speaks the real protocol over real HTTP — discovery, an authorization page, the token
endpoint (client authentication, single-use codes, PKCE), a JWKS and userinfo — and signs ID
tokens with its own RSA key, so the app's Authlib client checks them exactly as it would
Google's. Tests choose who signs in (`next_identity`) and can make the provider misbehave
(`id_token_changes`, `sign_with_foreign_key`) to prove the app refuses what it must.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

CLIENT_ID = "blog-test-client"
CLIENT_SECRET = "blog-test-secret"


@dataclass
class Identity:
    sub: str
    email: str | None
    email_verified: bool = True
    name: str | None = None


@dataclass
class _Grant:
    identity: Identity
    nonce: str | None
    redirect_uri: str
    code_challenge: str | None
    issued: float


@dataclass
class OidcProvider:
    url: str = ""
    next_identity: Identity = field(
        default_factory=lambda: Identity("g-100", "grace@example.com", True, "Grace Hopper")
    )
    # Claims to change in (or, with value None, drop from) the next ID tokens.
    id_token_changes: dict[str, Any] = field(default_factory=dict)
    sign_with_foreign_key: bool = False
    # Keep email out of the ID token (userinfo still has it), as some providers do.
    email_only_in_userinfo: bool = False
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self._foreign = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self._grants: dict[str, _Grant] = {}
        self._tokens: dict[str, Identity] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        self.next_identity = Identity("g-100", "grace@example.com", True, "Grace Hopper")
        self.id_token_changes = {}
        self.sign_with_foreign_key = False
        self.email_only_in_userinfo = False
        self.requests.clear()
        with self._lock:
            self._grants.clear()
            self._tokens.clear()

    # ----------------------------------------------------------------------- the endpoints

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.requests.append(f"{request.method} {request.path}")
        routes = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/authorize"): self._authorize_page,
            ("POST", "/authorize"): self._authorize,
            ("POST", "/token"): self._token,
            ("GET", "/jwks"): self._jwks,
            ("GET", "/userinfo"): self._userinfo,
        }
        handler = routes.get((request.method, request.path))
        response = handler(request) if handler else Response("not found", 404)
        return response(environ, start_response)

    def _discovery(self, request: Request) -> Response:
        return _json(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "userinfo_endpoint": f"{self.url}/userinfo",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
            }
        )

    def _authorize_page(self, request: Request) -> Response:
        """The consent page a person sees at the provider: who signs in, Continue or Cancel."""
        args = request.args
        if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
            return Response("unknown client or response type", 400)
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
            for k, v in args.items()
        )
        who = self.next_identity
        body = (
            "<!doctype html><html lang='en'><head><title>Test provider</title></head><body>"
            "<main><h1>Sign in with Test Google</h1>"
            f"<p>Continue as {html.escape(who.name or '')} "
            f"({html.escape(who.email or 'no email')})?</p>"
            f'<form method="post" action="/authorize">{hidden}'
            '<button name="decision" value="allow">Continue</button> '
            '<button name="decision" value="deny">Cancel</button></form></main></body></html>'
        )
        return Response(body, 200, content_type="text/html; charset=utf-8")

    def _authorize(self, request: Request) -> Response:
        form = request.form
        redirect_uri = form.get("redirect_uri", "")
        state = form.get("state", "")
        if form.get("client_id") != CLIENT_ID or not redirect_uri:
            return Response("unknown client", 400)
        if form.get("decision") != "allow":
            return _redirect(redirect_uri, error="access_denied", state=state)
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._grants[code] = _Grant(
                identity=self.next_identity,
                nonce=form.get("nonce"),
                redirect_uri=redirect_uri,
                code_challenge=form.get("code_challenge"),
                issued=time.time(),
            )
        return _redirect(redirect_uri, code=code, state=state)

    def _token(self, request: Request) -> Response:
        client_id, client_secret = _client_credentials(request)
        if client_id != CLIENT_ID or client_secret != CLIENT_SECRET:
            return _json({"error": "invalid_client"}, 401)
        form = request.form
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)  # single use
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return _json({"error": "invalid_grant"}, 400)
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "").encode()
            expected = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if expected.decode() != grant.code_challenge:
                return _json({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        access_token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access_token] = grant.identity
        return _json(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": self._id_token(grant),
            }
        )

    def _id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        who = grant.identity
        claims: dict[str, Any] = {
            "iss": self.url,
            "sub": who.sub,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant.nonce,
            "name": who.name,
        }
        if not self.email_only_in_userinfo:
            claims["email"] = who.email
            claims["email_verified"] = who.email_verified
        for key, value in self.id_token_changes.items():
            if value is None:
                claims.pop(key, None)
            else:
                claims[key] = value
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self._foreign if self.sign_with_foreign_key else self._key
        return jwt.encode({"alg": "RS256", "kid": "test-key-1"}, claims, key)

    def _jwks(self, request: Request) -> Response:
        return _json(KeySet([self._key]).as_dict(private=False))

    def _userinfo(self, request: Request) -> Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            who = self._tokens.get(token)
        if who is None:
            return _json({"error": "invalid_token"}, 401)
        return _json(
            {
                "sub": who.sub,
                "email": who.email,
                "email_verified": who.email_verified,
                "name": who.name,
            }
        )


def _client_credentials(request: Request) -> tuple[str | None, str | None]:
    auth = request.authorization
    if auth is not None and auth.type == "basic":
        return auth.username, auth.password
    return request.form.get("client_id"), request.form.get("client_secret")


def _json(data: Any, status: int = 200) -> Response:
    import json

    return Response(json.dumps(data), status, content_type="application/json")


def _redirect(uri: str, **params: str) -> Response:
    separator = "&" if "?" in uri else "?"
    return Response("", 302, {"Location": uri + separator + urlencode(params)})


def serve() -> tuple[OidcProvider, Any]:
    """Start the provider on a free loopback port; returns it and the server (to shut down)."""
    provider = OidcProvider()
    server = make_server("127.0.0.1", 0, provider, threaded=True)
    provider.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return provider, server
