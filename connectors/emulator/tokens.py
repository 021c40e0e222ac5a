"""Access tokens the emulator mints and checks: RS256 JWTs signed with its own key.

Claims follow what Entra ID puts in v1 app-only and delegated tokens for SharePoint:
`aud` (the resource), `tid`, `appid`, `appidacr` (1 = client secret, 2 = certificate or
assertion; SharePoint refuses 1), `roles` (application permissions) or `scp` (delegated),
`upn` for delegated tokens, `iat`/`nbf`/`exp`. Whether SharePoint checks exactly these is
not documented (spo-profiles-api.md §1.2, §11.9); the emulator checks signature, audience,
expiry and appidacr.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenError(Exception):
    """A token that is malformed, badly signed, expired or for another audience."""


@dataclass(frozen=True, slots=True)
class Jwt:
    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes


def parse_jwt(token: str) -> Jwt:
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("not a JWT (expected three dot-separated parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
        signature = b64url_decode(parts[2])
    except (ValueError, json.JSONDecodeError) as error:
        raise TokenError(f"malformed JWT: {error}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("malformed JWT: header and claims must be objects")
    return Jwt(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def verify_rs256(jwt: Jwt, public_key: rsa.RSAPublicKey) -> None:
    algorithm = jwt.header.get("alg")
    try:
        if algorithm == "RS256":
            public_key.verify(jwt.signature, jwt.signing_input, padding.PKCS1v15(), hashes.SHA256())
        elif algorithm == "PS256":
            public_key.verify(jwt.signature, jwt.signing_input, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        else:
            raise TokenError(f"unsupported signing algorithm {algorithm!r}")
    except InvalidSignature:
        raise TokenError("signature does not verify") from None


class TokenMinter:
    """Mints and validates the emulator's access tokens."""

    def __init__(self, issuer: str, lifetime_seconds: int = 3599):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.issuer = issuer
        self.lifetime = lifetime_seconds

    def mint(self, audience: str, claims: dict, lifetime: int | None = None) -> tuple[str, int]:
        now = int(time.time())
        expires_in = self.lifetime if lifetime is None else lifetime
        body = {"aud": audience, "iss": self.issuer, "iat": now, "nbf": now, "exp": now + expires_in, "ver": "1.0", **claims}
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(json.dumps(header, separators=(',', ':')).encode())}.{b64url(json.dumps(body, separators=(',', ':')).encode())}"
        signature = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}", expires_in

    def validate(self, token: str, audiences: set[str], now: float | None = None) -> dict:
        """The claims of a token this emulator minted for one of ``audiences``."""
        jwt = parse_jwt(token)
        if jwt.header.get("kid") != self.kid:
            raise TokenError("token was not issued by this emulator")
        verify_rs256(jwt, self.key.public_key())
        moment = time.time() if now is None else now
        if float(jwt.claims.get("exp", 0)) < moment:
            raise TokenError("token expired")
        audience = str(jwt.claims.get("aud", ""))
        if audience.rstrip("/") not in {a.rstrip("/") for a in audiences}:
            raise TokenError(f"token is for audience {audience!r}")
        return jwt.claims
