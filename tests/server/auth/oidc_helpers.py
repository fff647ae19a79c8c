"""A test OIDC issuer: keys made here, a JWKS served by a real local HTTP server, signed tokens."""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ISSUER = "https://sso.test/realms/alliance"
AUDIENCE = "cirrus"


def new_rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    algorithm = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": alg})
    return jwk


class Issuer:
    """Signing keys by kid and the JWKS document they publish."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []

    def add_key(self, key: Any | None = None, publish: bool = True) -> str:
        kid = uuid.uuid4().hex[:8]
        self.keys[kid] = key or new_rsa()
        if publish:
            self.published.append(kid)
        return kid

    def rotate(self) -> str:
        """A new key replaces every published one."""
        kid = self.add_key(publish=False)
        self.published = [kid]
        return kid

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(self.keys[k], k) for k in self.published]}

    def token(self, kid: str, *, lifetime: float = 300.0, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "iat": now, "nbf": now,
                                "exp": now + int(lifetime), "preferred_username": "dr.li",
                                "institution": "1", "role": "reporting_doctor"}
        body.update(claims)
        key = self.keys[kid]
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg,
                          headers={"kid": kid})


class JwksServer:
    """A real HTTP server answering GET /jwks with the issuer's current key set; counts the requests."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.hits += 1
                body = json.dumps(outer.issuer.jwks()).encode()
                self.send_response(200 if self.path == "/jwks" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks"

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
