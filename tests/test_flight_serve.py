"""How ``evalplane serve`` runs Arrow Flight: TLS when a certificate is configured, and a clear
refusal to start when its port is taken."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyarrow import flight

from tests.conftest import start_server
from tests.support import Api, Server, drop_pg_database, unique


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "flight.crt", directory / "flight.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.slow
def test_flight_serves_tls_when_a_certificate_is_set(server: Server, tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    tls, pg_name = start_server(
        server.backend,
        tmp_path / "home",
        EVALPLANE_WORKER="false",
        EVALPLANE_FLIGHT_TLS_CERT=str(cert),
        EVALPLANE_FLIGHT_TLS_KEY=str(key),
    )
    try:
        assert f"Arrow Flight on grpc+tls://127.0.0.1:{tls.flight_port}" in tls.log()
        options = flight.FlightCallOptions(headers=[(b"auth-token-bin", tls.admin_key.encode())], timeout=10)
        trusted = flight.connect(f"grpc+tls://localhost:{tls.flight_port}", tls_root_certs=cert.read_bytes())
        with trusted:
            assert "create_experiment_db_entry" in [a.type for a in trusted.list_actions(options)]
        plain = flight.connect(f"grpc://127.0.0.1:{tls.flight_port}")
        with plain, pytest.raises(flight.FlightUnavailableError):
            list(plain.list_actions(options))

        # The SDK over TLS (it skips verification for localhost, as for a local development server).
        from arize import ArizeClient

        with tls.http() as http:
            space = Api(http).space()
        sdk = ArizeClient(
            api_key=tls.admin_key,
            api_scheme="http",
            api_host="127.0.0.1",
            api_port=tls.port,
            flight_scheme="grpc+tls",
            flight_host="localhost",
            flight_port=tls.flight_port,
        )
        rows = [{"question": f"q{i}"} for i in range(1500)]
        made = sdk.datasets.create(name=unique("tls"), space=space["id"], examples=rows)
        listed = sdk.datasets.list_examples(dataset=made.id, all=True)
        assert [e.additional_properties["question"] for e in listed.examples] == [r["question"] for r in rows]
    finally:
        tls.stop()
        if pg_name:
            drop_pg_database(pg_name)


@pytest.mark.slow
def test_serve_refuses_to_start_when_the_flight_port_is_taken(server: Server, tmp_path: Path) -> None:
    env = {
        "EVALPLANE_HOME": str(tmp_path),
        "EVALPLANE_DATABASE_URL": f"sqlite:///{tmp_path / 'second.db'}",
        "EVALPLANE_FLIGHT_PORT": str(server.flight_port),
        "EVALPLANE_OTLP_GRPC_PORT": "off",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "evalplane.cli", "serve", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert f"Arrow Flight could not start on port {server.flight_port}" in done.stderr
    assert "EVALPLANE_FLIGHT_PORT" in done.stderr
