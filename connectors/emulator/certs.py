"""Certificates the emulator needs: its own CA, the TLS certificate it serves, and the
registered app's certificate with which clients sign their client assertions."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class CertFiles:
    ca_pem: Path  # the CA certificate (what clients trust)
    server_pem: Path  # TLS certificate + key
    app_pem: Path  # the registered app's certificate + private key


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "maforge emulator")])


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def ensure_certificates(folder: Path) -> CertFiles:
    """Create the CA, server and app certificates in ``folder`` unless they exist (reused
    across restarts, so a client that trusts the CA keeps trusting it)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = CertFiles(folder / "ca.pem", folder / "server.pem", folder / "app.pem")
    if files.ca_pem.exists() and files.server_pem.exists() and files.app_pem.exists():
        return files
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    ca_key = _key()
    ca_name = _name("maforge emulator CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = _key()
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    app_key = _key()
    app = (
        x509.CertificateBuilder()
        .subject_name(_name("maforge-emulator-app"))
        .issuer_name(_name("maforge-emulator-app"))
        .public_key(app_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=730))
        .sign(app_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files.ca_pem.write_bytes(ca.public_bytes(pem))
    _write_private(files.server_pem, server.public_bytes(pem) + _pem_key(server_key))
    _write_private(files.app_pem, app.public_bytes(pem) + _pem_key(app_key))
    _write_private(folder / "ca.key", _pem_key(ca_key))
    return files


def load_certificate(pem_file: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem_file.read_bytes())


def thumbprints(cert: x509.Certificate) -> tuple[str, str]:
    """(SHA-1 hex, SHA-256 hex) of the DER certificate: what x5t and x5t#S256 encode."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.sha1(der).hexdigest().upper(), hashlib.sha256(der).hexdigest().upper()
