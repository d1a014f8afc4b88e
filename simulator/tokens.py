"""Signed tokens like Entrez issues them, and their verification like a gateway does it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
import time
from typing import Any
import uuid

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
import jwt

OWNER_LIFETIME = 365 * 24 * 3600
INSTALLER_LIFETIME = 12 * 3600
LIFETIMES = {"owner": OWNER_LIFETIME, "installer": INSTALLER_LIFETIME}


class TokenRejectedError(Exception):
    """The token is not one this authority issued for this gateway, or it expired."""


@dataclass
class TokenAuthority:
    """Issues ES256 JWTs bound to a gateway serial, and verifies them.

    The claims follow real Entrez tokens: ``aud`` is the gateway serial, ``iss`` Entrez,
    ``enphaseUser`` the role, ``exp``/``iat`` UNIX times, ``jti`` unique.
    """

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    revoked: set[str] = field(default_factory=set)

    @classmethod
    def from_file(cls, path: Path) -> TokenAuthority:
        """The authority whose key is stored at ``path`` (created there the first time).

        A kept key keeps issued tokens valid across restarts of the simulator.
        """
        if path.is_file():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} does not hold an EC private key")
            return cls(key=key)
        authority = cls()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            authority.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return authority

    def issue(
        self,
        serial: str,
        *,
        role: str = "owner",
        username: str = "owner@example.com",
        lifetime: float | None = None,
        issued_at: float | None = None,
    ) -> str:
        """A token for ``serial``; owner tokens last a year, installer tokens 12 hours."""
        now = time.time() if issued_at is None else issued_at
        seconds = LIFETIMES[role] if lifetime is None else lifetime
        claims = {
            "aud": serial,
            "iss": "Entrez",
            "enphaseUser": role,
            "exp": int(now + seconds),
            "iat": int(now),
            "jti": str(uuid.uuid4()),
            "username": username,
        }
        return jwt.encode(claims, self.key, algorithm="ES256", headers={"kid": "sim"})

    def verify(self, token: str, serial: str) -> dict[str, Any]:
        """Check signature, expiry and serial like a gateway; raise TokenRejectedError."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key.public_key(),
                algorithms=["ES256"],
                audience=serial,
                options={"require": ["exp", "aud"]},
                leeway=0,
            )
        except jwt.PyJWTError as err:
            raise TokenRejectedError(str(err)) from err
        if claims.get("jti") in self.revoked:
            raise TokenRejectedError("revoked")
        return claims
