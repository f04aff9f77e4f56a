"""TLS for the session channel: the PEM material connect() is given, the gRPC credentials made from
it, and what a failed connection most likely means.

    connect("127.0.0.1:7182", tls_ca="ca.pem", tls_cert="alice.pem")          # key + cert in one PEM
    connect("paddock-1:7182", tls_ca=ca_bytes, tls_cert="a.crt", tls_key="a.key", tls_server_name="paddock")

Each PEM option is a path (str or os.PathLike) or the PEM itself (bytes, or a str holding
"-----BEGIN"). Files are read when connect() is called, so a resume picks up renewed certificates.

Why this module also explains errors: gRPC reports every failed connection as UNAVAILABLE with a
transport detail ("Socket closed", "Secure read failed", "WRONG_VERSION_NUMBER"), and a TLS
mismatch fails at once rather than hanging. `hint()` turns the details seen against a paddock
server into what to change; `TlsError` (a ConnectionLossError) carries it.
"""

import os
import re
from dataclasses import dataclass

import grpc

from .errors import ConnectionLossError

_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\s*", re.S)


class TlsError(ConnectionLossError):
    """CONNECTIONLOSS (-4) on a connection that failed because of TLS (most likely): a TLS client
    against a plaintext port or the other way round, a server certificate the CA does not sign or
    not valid for the name, or a client certificate the server refused (or did not get)."""


def _pem(value, what: str) -> bytes:
    """The PEM bytes of an option: given as bytes, as PEM text, or as a path to read."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, str) and "-----BEGIN" in value:
        data = value.encode()
    elif isinstance(value, (str, os.PathLike)):
        try:
            with open(value, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ValueError(f"{what}: cannot read {os.fspath(value)!r}: {e.strerror or e}") from None
    else:
        raise TypeError(f"{what}: a path or PEM bytes, not {type(value).__name__}")
    if b"-----BEGIN" not in data:
        raise ValueError(f"{what}: no PEM block (-----BEGIN ...) in it")
    return data


def _blocks(pem: bytes, key: bool) -> bytes:
    """The private key blocks (key=True) or the certificate blocks of a PEM, concatenated."""
    return b"".join(m.group(0) for m in _BLOCK.finditer(pem) if m.group(1).endswith(b"PRIVATE KEY") == key)


@dataclass(frozen=True)
class TlsConfig:
    """What connect() was given (paths or PEM, unread): kept so detach() can hand it on."""

    ca: object = None
    cert: object = None
    key: object = None
    server_name: str | None = None

    @classmethod
    def of(cls, tls=False, ca=None, cert=None, key=None, server_name=None) -> "TlsConfig | None":
        """None for a plaintext channel: no option given and `tls` false."""
        if not (tls or ca is not None or cert is not None or key is not None or server_name):
            return None
        if key is not None and cert is None:
            raise ValueError("tls_key without tls_cert: give the client certificate too")
        return cls(ca, cert, key, server_name)

    def kwargs(self) -> dict:
        """The connect() keyword arguments that make this configuration again."""
        return dict(tls=True, tls_ca=self.ca, tls_cert=self.cert, tls_key=self.key, tls_server_name=self.server_name)

    def credentials(self) -> grpc.ChannelCredentials:
        """Reads the files now; ValueError on missing or unusable PEM."""
        ca = _pem(self.ca, "tls_ca") if self.ca is not None else None  # None: gRPC's default roots
        if ca is not None and not _blocks(ca, key=False):
            raise ValueError("tls_ca: no CERTIFICATE block in it")
        chain = key = None
        if self.cert is not None:
            cert = _pem(self.cert, "tls_cert")
            key_pem = _pem(self.key, "tls_key") if self.key is not None else cert
            chain, key = _blocks(cert, key=False), _blocks(key_pem, key=True)
            if not chain:
                raise ValueError("tls_cert: no CERTIFICATE block in it")
            if not key:
                where = "tls_key" if self.key is not None else "tls_cert (and no tls_key given)"
                raise ValueError(f"{where}: no PRIVATE KEY block in it")
            if b"ENCRYPTED PRIVATE KEY" in key:
                raise ValueError("the client private key is encrypted; give an unencrypted PEM key")
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key, certificate_chain=chain)

    def options(self) -> list:
        """Channel options: the name the server certificate must be valid for, if overridden."""
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def hint(detail: str, tls: "TlsConfig | None") -> str | None:
    """What a connection failure before the handshake most likely means, if TLS is a likely cause
    (None otherwise, e.g. for "Connection refused": no server at all)."""
    d = detail.lower()
    if tls is None:
        # rustls reads the HTTP/2 preface as a bad TLS record and closes the socket.
        if "socket closed" in d or "connection reset" in d or "end of file" in d:
            return ("the server closed the connection before answering: it probably serves TLS; "
                    "connect with tls_ca=... (and tls_cert=... if it asks for client certificates)")
        return None
    if "wrong_version_number" in d or "packet_length_too_long" in d or "http_request" in d:
        return "the server did not answer the TLS handshake: it probably serves plaintext; connect without tls_*"
    if "certificate_verify_failed" in d:
        return "the server's certificate is not signed by the CA in tls_ca (or by a default root CA without it)"
    if "peer name" in d or "not in peer certificate" in d:
        name = f" {tls.server_name!r}" if tls.server_name else ""
        return (f"the server's certificate is not valid for the name{name} the client checks; "
                "set tls_server_name to a name it holds")
    if "connection refused" in d or "dns" in d or "resolve" in d:
        return None
    # TLS 1.3: the server checks the client certificate after the client considers the handshake
    # done, so a refusal shows up as the first read failing.
    who = "the client certificate (not signed by a CA it trusts)" if tls.cert is not None else \
        "the connection for want of a client certificate (give tls_cert=...)"
    return f"the server ended the connection during or right after the TLS handshake: it probably refused {who}"
