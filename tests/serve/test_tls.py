"""``afinar serve`` as a user starts it: the real CLI in a subprocess, HTTPS with TLS 1.3 only,
and the settings it refuses before loading anything."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx2
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "afinar-test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "cert.pem", folder / "key.pem"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _afinar(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "afinar", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw
    )


def _wait_until_up(proc: subprocess.Popen, url: str, **get) -> None:
    """Poll ``url``/healthz until the ``afinar serve`` in ``proc`` answers (120 s at most)."""
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "afinar serve did not come up in 120 s"
        try:
            httpx2.get(f"{url}/healthz", **get)
            return
        except httpx2.TransportError:
            time.sleep(0.5)


def _handshake(port: int, cafile, max_version=None) -> str:
    ctx = ssl.create_default_context(cafile=str(cafile))
    if max_version is not None:
        ctx.maximum_version = max_version
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        return tls.version()


def test_cli_serves_https_with_tls13_only(tiny_model_dir, tiny_adapters, cert):
    port = _free_port()
    proc = _afinar(
        "serve",
        "--model",
        str(tiny_model_dir),
        "--adapter",
        f"alpha={tiny_adapters['alpha']}",
        "--port",
        str(port),
        "--tls-cert",
        str(cert[0]),
        "--tls-key",
        str(cert[1]),
        env=os.environ,
    )
    try:
        _wait_until_up(proc, f"https://127.0.0.1:{port}", verify=ssl.create_default_context(cafile=str(cert[0])))
        assert _handshake(port, cert[0]) == "TLSv1.3"
        with pytest.raises(ssl.SSLError):
            _handshake(port, cert[0], max_version=ssl.TLSVersion.TLSv1_2)
        http = openai.DefaultHttpx2Client(verify=ssl.create_default_context(cafile=str(cert[0])))
        client = openai.OpenAI(base_url=f"https://127.0.0.1:{port}/v1", api_key="x", http_client=http, max_retries=0)
        r = client.chat.completions.create(model="alpha", messages=[{"role": "user", "content": "hola"}], max_tokens=3)
        assert r.usage.completion_tokens >= 1
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    assert f"serving base, alpha on https://127.0.0.1:{port}/v1" in " ".join(out.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "default", "--host", "0.0.0.0"], "without a registry anyone who reaches this address"),
        (["--model", "default", "--adapter", "oops"], "expected NAME=PATH"),
        (["--model", "default", "--tls-cert", "c.pem"], "give both --tls-cert and --tls-key"),
        (["--model", "default", "--tls-cert", "c.pem", "--tls-key", "k.pem"], "cannot load the certificate"),
        (["--model", "default", "--pii", "hide"], "--pii hide: accepted: mask, reject, off"),
        ([], "give --run RUN_DIR, or --model BASE"),
    ],
)
def test_cli_refuses_unsafe_or_wrong_settings(args, message):
    proc = _afinar("serve", *args)
    out = " ".join(proc.communicate(timeout=120)[0].split())
    assert proc.returncode == 2 and message in out, out
