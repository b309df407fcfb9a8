"""The self-signed TLS certificate of LAN mode, made on this computer on first use.

Kept in ``<home>/lan/``: ``cert.pem`` and ``key.pem`` (mode 0600). Reused until it is within
``RENEW_BEFORE`` of expiry or no longer names the address being served; then made again, and
phones see a new fingerprint (which the terminal and the Data page print, so a person can
compare it with what the phone shows).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from skintrack.config import Settings

VALID_FOR = timedelta(days=397)  # the longest validity browsers accept for a server certificate
RENEW_BEFORE = timedelta(days=30)


@dataclass(frozen=True)
class Certificate:
    """Where the certificate and its key are, and the certificate's SHA-256 fingerprint."""

    cert_path: Path
    key_path: Path
    fingerprint: str  # AA:BB:... as browsers show it
    names: tuple[str, ...]  # the subject alternative names
    not_after: datetime


def local_hostname() -> str:
    """This computer's mDNS name (``name.local``), which phones on the same network can resolve."""
    name = socket.gethostname().split(".")[0] or "localhost"
    return f"{name}.local"


def folder(settings: Settings) -> Path:
    return settings.home / "lan"


def fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _describe(cert: x509.Certificate, cert_path: Path, key_path: Path) -> Certificate:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    names = tuple(str(n) for n in san.get_values_for_type(x509.IPAddress)) + tuple(
        san.get_values_for_type(x509.DNSName)
    )
    return Certificate(cert_path, key_path, fingerprint(cert), names, cert.not_valid_after_utc)


def load(settings: Settings) -> Certificate | None:
    """The certificate in the data home, or None when there is none (or it cannot be read)."""
    cert_path, key_path = folder(settings) / "cert.pem", folder(settings) / "key.pem"
    if not (cert_path.is_file() and key_path.is_file()):
        return None
    try:
        return _describe(x509.load_pem_x509_certificate(cert_path.read_bytes()), cert_path, key_path)
    except (ValueError, x509.ExtensionNotFound):
        return None


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a file only its owner can read, created so from the start (no window at 0644)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o600)  # in case a umask or an existing file widened it
    os.replace(tmp, path)


def ensure(settings: Settings, address: str, now: datetime | None = None) -> Certificate:
    """The certificate for ``address`` (an IP address) and this host's ``.local`` name: the
    stored one while it is valid and names both, else a new one (P-256 key, ``VALID_FOR``)."""
    now = now or datetime.now(UTC)
    ip = ipaddress.ip_address(address)  # ValueError names the bad value
    wanted = {str(ip), local_hostname()}
    found = load(settings)
    if found is not None and wanted <= set(found.names) and found.not_after - RENEW_BEFORE > now:
        os.chmod(found.key_path, 0o600)
        return found
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"skintrack on {local_hostname()}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip), x509.DNSName(local_hostname())]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    where = folder(settings)
    where.mkdir(parents=True, exist_ok=True)
    os.chmod(where, 0o700)
    cert_path, key_path = where / "cert.pem", where / "key.pem"
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, key_pem)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return _describe(cert, cert_path, key_path)
