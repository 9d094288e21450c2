"""A throwaway certificate authority for third-party clients that meet the fake under the real
host names.

The fake presents a certificate for ``graph.microsoft.com`` and ``login.microsoftonline.com``
signed by a CA made here; the client is given the CA on its command line (rclone's
``--ca-cert``), so nothing on the machine trusts it and nothing outside the test can use it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from onemount.fakegraph import Tls

HOSTS = ("graph.microsoft.com", "login.microsoftonline.com")


@dataclass(frozen=True)
class InteropCA:
    ca: Path  # the CA certificate a client trusts
    server: Tls  # the fake's certificate (for HOSTS and 127.0.0.1) and key


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="session")
def interop_ca(tmp_path_factory: pytest.TempPathFactory) -> InteropCA:
    folder = tmp_path_factory.mktemp("test-ca")
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, request = folder / "server.pem", folder / "server.key", folder / "server.csr"
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-days", "2", "-subj", "/CN=onemount interop test CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(ca_key), "-out", str(ca),
    )  # fmt: skip
    _openssl(
        "req", "-new", *ec, "-subj", f"/CN={HOSTS[0]}", "-keyout", str(key), "-out", str(request)
    )
    names = ",".join([*(f"DNS:{host}" for host in HOSTS), "IP:127.0.0.1"])
    extensions = folder / "server.ext"
    extensions.write_text(
        f"subjectAltName={names}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    return InteropCA(ca, Tls(cert, key))
