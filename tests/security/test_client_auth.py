"""Every Kafka and Elasticsearch client the pipeline builds gets the configured TLS and
SASL / API-key / basic-auth options (sitrep.clients and the Faust worker's credentials).

The client classes are replaced by recorders: what is checked is what they are constructed
with, not a connection.
"""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sitrep import clients
from sitrep.settings import Settings, load_settings

SASL_PASSWORD = "sandi-kafka-rahasia"
ES_PASSWORD = "sandi-es-rahasia"


class Recorder:
    """Stands in for a client class; keeps the keyword arguments of every construction."""

    calls: list[dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).calls.append({"args": args, **kwargs})


def recorder() -> type[Recorder]:
    return type("Recorded", (Recorder,), {"calls": []})


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[Recorder]]:
    import aiokafka
    import elasticsearch
    import kafka

    classes = {
        "KafkaProducer": (kafka, recorder()),
        "KafkaConsumer": (kafka, recorder()),
        "KafkaAdminClient": (kafka, recorder()),
        "AIOKafkaConsumer": (aiokafka, recorder()),
        "Elasticsearch": (elasticsearch, recorder()),
    }
    for name, (module, cls) in classes.items():
        monkeypatch.setattr(module, name, cls)
    return {name: cls for name, (_, cls) in classes.items()}


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate and key (the CA file and the client certificate alike)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "client.pem", folder / "client.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=sitrep-test", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def secured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cert: Path, key: Path, **extra: str
) -> Settings:
    monkeypatch.chdir(tmp_path)
    environment = {
        "SITREP_KAFKA__BOOTSTRAP_SERVERS": "k1.example:9093,k2.example:9093",
        "SITREP_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "SITREP_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "SITREP_KAFKA__SASL_USERNAME": "sitrep",
        "SITREP_KAFKA__SASL_PASSWORD": SASL_PASSWORD,
        "SITREP_KAFKA__SSL_CAFILE": str(cert),
        "SITREP_KAFKA__SSL_CERTFILE": str(cert),
        "SITREP_KAFKA__SSL_KEYFILE": str(key),
        "SITREP_ELASTICSEARCH__URL": "https://es.example:9200",
        "SITREP_ELASTICSEARCH__USERNAME": "sitrep",
        "SITREP_ELASTICSEARCH__PASSWORD": ES_PASSWORD,
        "SITREP_ELASTICSEARCH__CA_CERTS": str(cert),
        **extra,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return load_settings()


KAFKA_PYTHON_AUTH = {
    "bootstrap_servers": ["k1.example:9093", "k2.example:9093"],
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "sitrep",
    "sasl_plain_password": SASL_PASSWORD,
    "ssl_check_hostname": True,
}


def test_kafka_python_clients_get_sasl_and_tls(
    recorded: dict[str, type[Recorder]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    settings = secured(monkeypatch, tmp_path, cert, key)
    clients.kafka_producer(settings)
    clients.kafka_consumer(settings, "sitrep.reports", group_id="g")
    clients.kafka_admin(settings)
    wanted = {
        **KAFKA_PYTHON_AUTH,
        "ssl_cafile": str(cert),
        "ssl_certfile": str(cert),
        "ssl_keyfile": str(key),
    }
    for name in ("KafkaProducer", "KafkaConsumer", "KafkaAdminClient"):
        [call] = recorded[name].calls
        assert {option: call.get(option) for option in wanted} == wanted, name


def test_aiokafka_and_faust_get_sasl_and_an_ssl_context(
    recorded: dict[str, type[Recorder]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    settings = secured(monkeypatch, tmp_path, cert, key)
    clients.aiokafka_consumer(settings, group_id="sitrep-indexer")
    [call] = recorded["AIOKafkaConsumer"].calls
    assert call["security_protocol"] == "SASL_SSL"
    assert call["sasl_mechanism"] == "SCRAM-SHA-512"
    assert call["sasl_plain_username"] == "sitrep"
    assert call["sasl_plain_password"] == SASL_PASSWORD
    assert isinstance(call["ssl_context"], ssl.SSLContext)
    assert call["ssl_context"].check_hostname
    assert not any(option.startswith("ssl_") and option != "ssl_context" for option in call)

    from streams.app import broker_credentials

    credentials = broker_credentials(settings)
    assert credentials.username == "sitrep" and credentials.password == SASL_PASSWORD
    assert str(credentials.mechanism.value) == "SCRAM-SHA-512"
    assert isinstance(credentials.ssl_context, ssl.SSLContext)


def test_tls_without_sasl_and_without_host_name_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    settings = secured(
        monkeypatch,
        tmp_path,
        cert,
        key,
        SITREP_KAFKA__SECURITY_PROTOCOL="SSL",
        SITREP_KAFKA__SASL_MECHANISM="",
        SITREP_KAFKA__SSL_CHECK_HOSTNAME="false",
    )
    options = clients.kafka_options(settings)
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert options["ssl_check_hostname"] is False
    context = clients.kafka_ssl_context(settings)
    assert context is not None and not context.check_hostname

    from streams.app import broker_credentials

    credentials = broker_credentials(settings)
    assert type(credentials).__name__ == "SSLCredentials"
    assert not credentials.context.check_hostname


def test_plaintext_stays_plain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert clients.kafka_options(settings) == {
        "bootstrap_servers": settings.kafka.bootstrap_servers.split(","),
        "security_protocol": "PLAINTEXT",
    }
    assert clients.kafka_ssl_context(settings) is None


def test_elasticsearch_gets_basic_auth_and_the_ca(
    recorded: dict[str, type[Recorder]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    settings = secured(monkeypatch, tmp_path, cert, key)
    clients.elasticsearch(settings)
    [call] = recorded["Elasticsearch"].calls
    assert call["args"] == ("https://es.example:9200",)
    assert call["basic_auth"] == ("sitrep", ES_PASSWORD)
    assert call["ca_certs"] == str(cert) and call["verify_certs"] is True
    assert "api_key" not in call


@pytest.mark.parametrize(
    ("configured", "passed"),
    [("aWQ6c2VjcmV0", "aWQ6c2VjcmV0"), ("key-id:key-secret", ("key-id", "key-secret"))],
)
def test_an_elasticsearch_api_key_wins_over_basic_auth(
    recorded: dict[str, type[Recorder]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    certificate: tuple[Path, Path],
    configured: str,
    passed: object,
) -> None:
    cert, key = certificate
    settings = secured(
        monkeypatch,
        tmp_path,
        cert,
        key,
        SITREP_ELASTICSEARCH__API_KEY=configured,
        SITREP_ELASTICSEARCH__SSL_ASSERT_FINGERPRINT="AB:CD",
        SITREP_ELASTICSEARCH__CLIENT_CERT=str(cert),
        SITREP_ELASTICSEARCH__CLIENT_KEY=str(key),
    )
    clients.elasticsearch(settings)
    [call] = recorded["Elasticsearch"].calls
    assert call["api_key"] == passed and "basic_auth" not in call
    assert call["ssl_assert_fingerprint"] == "AB:CD"
    assert (call["client_cert"], call["client_key"]) == (str(cert), str(key))


def test_secrets_stay_hidden_in_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    settings = secured(
        monkeypatch,
        tmp_path,
        cert,
        key,
        SITREP_KAFKA__SSL_PASSWORD="sandi-kunci",
        SITREP_ELASTICSEARCH__API_KEY="kunci-api",
    )
    shown = repr(settings) + settings.model_dump_json()
    for secret in (SASL_PASSWORD, ES_PASSWORD, "sandi-kunci", "kunci-api"):
        assert secret not in shown


def test_a_refused_sasl_login_is_reported_as_such(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """kafka-python retries a refused login until its bootstrap timeout and then reports only
    the timeout; the clients ask the brokers why and raise that instead."""
    import kafka
    from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

    class Unbootstrappable:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise KafkaTimeoutError("Unable to bootstrap from ['k1.example:9093']")

    for name in ("KafkaProducer", "KafkaConsumer", "KafkaAdminClient"):
        monkeypatch.setattr(kafka, name, Unbootstrappable)
    cert, key = certificate
    settings = secured(monkeypatch, tmp_path, cert, key)
    asked: list[object] = []

    def refusal(_: Settings, servers: object = None) -> str | None:
        asked.append(servers)
        return "Authentication failed: Invalid username or password"

    monkeypatch.setattr(clients, "kafka_login_refusal", refusal)
    builders = (clients.kafka_producer, clients.kafka_consumer, clients.kafka_admin)
    for build in builders:
        with pytest.raises(SaslAuthenticationFailedError) as refused:
            build(settings)
        message = str(refused.value)
        assert "Kafka refused the SASL login of user 'sitrep'" in message
        assert (
            "Invalid username or password" in message and "SITREP_KAFKA__SASL_PASSWORD" in message
        )
        assert SASL_PASSWORD not in message
    assert asked == [["k1.example:9093", "k2.example:9093"]] * 3

    # Nothing refused (no broker answers, say): the timeout stays what it was.
    monkeypatch.setattr(clients, "kafka_login_refusal", lambda *_: None)
    with pytest.raises(KafkaTimeoutError):
        clients.kafka_admin(settings)


def test_the_login_check_asks_only_with_sasl_and_gives_up_on_silence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import socket

    monkeypatch.chdir(tmp_path)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{closed.getsockname()[1]}"
    plain = load_settings(kafka={"bootstrap_servers": nobody})
    assert clients.kafka_login_refusal(plain) is None
    sasl = load_settings(
        kafka={
            "bootstrap_servers": nobody,
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_username": "sitrep",
            "sasl_password": SASL_PASSWORD,
        }
    )
    assert clients.kafka_login_refusal(sasl) is None  # nobody listens: no answer, no refusal
