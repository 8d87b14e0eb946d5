"""A tiny OpenID Connect issuer for the browser tests: discovery, an authorization endpoint that signs the chosen
user in at once and sends the browser back with a code, a token endpoint that checks the PKCE verifier (S256)
before it answers an RS256 access token, and the JWKS the functions verify that token with."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from udaconnect.ports import free_port

KID = "fake-issuer-key"


class FakeIssuer:
    def __init__(self, audience: str, client_id: str, person_claim: str = "udaconnect_person") -> None:
        self.audience, self.client_id, self.person_claim = audience, client_id, person_claim
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        #: Who signs in at the next authorization request: a person's id, or "organizer".
        self.user: int | str = 1
        self.codes: dict[str, dict[str, Any]] = {}
        #: Every authorization request's parameters and every token request's outcome, for the tests to read.
        self.authorizations: list[dict[str, str]] = []
        self.exchanges: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeIssuer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def environment(self) -> dict[str, str]:
        """What the functions and the web target need to trust this issuer."""
        return {"UDACONNECT_OIDC_ISSUER": self.url, "UDACONNECT_OIDC_JWKS_URL": f"{self.url}/jwks",
                "UDACONNECT_OIDC_AUDIENCE": self.audience, "UDACONNECT_OIDC_PERSON_CLAIM": self.person_claim,
                "UDACONNECT_OIDC_CLIENT_ID": self.client_id}

    def access_token(self, user: int | str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.url, "aud": self.audience, "sub": f"user-{user}", "iat": now,
                                  "exp": now + 600}
        if user == "organizer":
            claims["roles"] = ["organizer"]
        else:
            claims[self.person_claim] = str(user)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": KID})

    def _discovery(self) -> dict[str, Any]:
        return {"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"], "code_challenge_methods_supported": ["S256"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"]}

    def _jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def _authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        self.authorizations.append(query)
        if query.get("client_id") != self.client_id or query.get("response_type") != "code" \
                or query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return 400, {}, {"error": "invalid_request"}
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": query["code_challenge"], "redirect_uri": query["redirect_uri"],
                            "user": self.user}
        back = urlencode({"code": code, "state": query.get("state", "")})
        return 302, {"Location": f"{query['redirect_uri']}?{back}"}, None

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, str], Any]:
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            self.exchanges.append("unknown code")
            return 400, {}, {"error": "invalid_grant"}
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            self.exchanges.append("wrong verifier")
            return 400, {}, {"error": "invalid_grant", "error_description": "PKCE verification failed"}
        if form.get("redirect_uri") != grant["redirect_uri"] or form.get("client_id") != self.client_id:
            self.exchanges.append("wrong client")
            return 400, {}, {"error": "invalid_grant"}
        self.exchanges.append("ok")
        return 200, {}, {"access_token": self.access_token(grant["user"]), "token_type": "Bearer",
                         "expires_in": 600}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:
                pass

            def answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                self.send_response(status)
                # the browser calls discovery and the token endpoint from the web client's origin
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Headers", "*")
                for name, value in headers.items():
                    self.send_header(name, value)
                data = b"" if body is None else json.dumps(body).encode()
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_OPTIONS(self) -> None:  # noqa: N802 - http.server's naming
                self.answer(204, {"Access-Control-Allow-Methods": "GET, POST"}, None)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self.answer(200, {}, issuer._discovery())
                elif url.path == "/jwks":
                    self.answer(200, {}, issuer._jwks())
                elif url.path == "/authorize":
                    self.answer(*issuer._authorize(query))
                else:
                    self.answer(404, {}, {"error": "not found"})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                if urlsplit(self.path).path == "/token":
                    self.answer(*issuer._token(form))
                else:
                    self.answer(404, {}, {"error": "not found"})

        return Handler
