"""The token authority, the throw-away certificates, and the fault list."""

from __future__ import annotations

from pathlib import Path
import ssl
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
import jwt
import pytest

from simulator import Fault, FaultKind, TokenAuthority
from simulator.faults import FaultList
from simulator.tls import make_certificate, shared_certificate
from simulator.tokens import INSTALLER_LIFETIME, OWNER_LIFETIME, TokenRejectedError

SERIAL = "122302045041"

# --------------------------------------------------------------------------- tokens


def test_issue_like_entrez(authority: TokenAuthority) -> None:
    """ES256, aud = serial, the role, a year or 12 hours, a unique jti."""
    token = authority.issue(SERIAL, username="me@example.com")
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "ES256"
    assert claims["aud"] == SERIAL
    assert claims["iss"] == "Entrez"
    assert claims["enphaseUser"] == "owner"
    assert claims["username"] == "me@example.com"
    assert claims["exp"] - claims["iat"] == OWNER_LIFETIME
    installer = jwt.decode(
        authority.issue(SERIAL, role="installer"), options={"verify_signature": False}
    )
    assert installer["exp"] - installer["iat"] == INSTALLER_LIFETIME
    assert installer["jti"] != claims["jti"]
    assert authority.verify(token, SERIAL) == claims


def test_issue_at_a_time_and_lifetime(authority: TokenAuthority) -> None:
    """issued_at and lifetime override the clock and the role's lifetime."""
    token = authority.issue(SERIAL, issued_at=1_000_000, lifetime=60)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iat"], claims["exp"]) == (1_000_000, 1_000_060)


def test_unknown_role(authority: TokenAuthority) -> None:
    """Entrez issues owner and installer tokens only."""
    with pytest.raises(KeyError):
        authority.issue(SERIAL, role="admin")


def test_verify_refuses(authority: TokenAuthority) -> None:
    """Another serial, expired, revoked, another key, garbage, no expiry."""
    revoked = authority.issue(SERIAL)
    authority.revoked.add(jwt.decode(revoked, options={"verify_signature": False})["jti"])
    key = authority.key
    no_exp = jwt.encode({"aud": SERIAL}, key, algorithm="ES256")
    refused = [
        authority.issue("999999999999"),
        authority.issue(SERIAL, issued_at=time.time() - 100, lifetime=50),
        revoked,
        TokenAuthority().issue(SERIAL),
        "garbage",
        no_exp,
    ]
    for token in refused:
        with pytest.raises(TokenRejectedError):
            authority.verify(token, SERIAL)


def test_key_file_keeps_tokens_valid(tmp_path: Path) -> None:
    """The key is written the first time and read back later."""
    path = tmp_path / "keys" / "signing.pem"
    first = TokenAuthority.from_file(path)
    assert path.is_file()
    token = first.issue(SERIAL)
    second = TokenAuthority.from_file(path)
    assert second.verify(token, SERIAL)["aud"] == SERIAL


def test_key_file_of_another_kind(tmp_path: Path) -> None:
    """A key that is not an EC key is refused."""
    path = tmp_path / "ed25519.pem"
    path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="EC private key"):
        TokenAuthority.from_file(path)


# --------------------------------------------------------------------------- tls


def test_certificates() -> None:
    """A CA and a server certificate for localhost and 127.0.0.1; one per process shared."""
    certificate = make_certificate("unit test")
    for path in (certificate.ca_path, certificate.cert_path, certificate.key_path):
        assert path.is_file()
    assert certificate.server_context().verify_mode == ssl.CERT_NONE  # no client certs
    client = certificate.client_context()
    assert client.verify_mode == ssl.CERT_REQUIRED
    assert client.check_hostname
    assert shared_certificate() is shared_certificate()
    assert shared_certificate() != certificate


# --------------------------------------------------------------------------- faults


def test_fault_matching_and_use() -> None:
    """A fault matches its path (query ignored), or any path; it is used up by count."""
    fault = Fault(FaultKind.RESET, count=2, path="/a")
    assert fault.matches("/a?x=1")
    assert not fault.matches("/b")
    fault.consume()
    fault.consume()
    assert not fault.matches("/a")
    forever = Fault(FaultKind.HTML, count=None)
    forever.consume()
    assert forever.matches("/anything")
    assert forever.count is None


def test_fault_json() -> None:
    """From and to the control API's JSON."""
    fault = Fault.from_dict({"kind": "server_error", "status": "500", "path": "/x"})
    assert fault == Fault(FaultKind.SERVER_ERROR, count=1, path="/x", status=500)
    assert fault.as_dict() == {"kind": "server_error", "count": 1, "path": "/x", "status": 500}
    assert Fault.from_dict({"kind": "timeout", "count": None}).count is None
    with pytest.raises(KeyError):
        Fault.from_dict({})
    with pytest.raises(ValueError):
        Fault.from_dict({"kind": "nope"})


def test_fault_list() -> None:
    """First match wins; used-up faults drop out; clear empties it."""
    faults = FaultList()
    assert faults.take("/a") is None
    faults.add(Fault(FaultKind.RESET, count=1, path="/a"))
    faults.add(Fault(FaultKind.HTML, count=2))
    assert len(faults) == 2
    first = faults.take("/a?q=1")
    assert first is not None
    assert first.kind is FaultKind.RESET
    assert len(faults) == 1
    assert [f["kind"] for f in faults.as_list()] == ["html"]
    taken = [faults.take("/a"), faults.take("/b"), faults.take("/c")]
    assert [f.kind if f else None for f in taken] == [FaultKind.HTML, FaultKind.HTML, None]
    faults.add(Fault(FaultKind.TIMEOUT, count=None))
    faults.clear()
    assert len(faults) == 0
