"""Where clients are built from settings: the one place that knows how to connect to things."""

from __future__ import annotations

import asyncio
import base64
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sitrep.settings import Settings

if TYPE_CHECKING:
    import httpx
    from aiokafka import AIOKafkaConsumer
    from elasticsearch import Elasticsearch
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

Client = TypeVar("Client")
LOGIN_CHECK_TIMEOUT_S = 10.0


def kafka_options(settings: Settings) -> dict[str, Any]:
    """Connection, SASL and TLS options of every kafka-python client."""
    return {**settings.kafka.client_options(), **settings.kafka.ssl_options()}


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the asyncio clients (aiokafka, Faust); None without TLS."""
    kafka = settings.kafka
    if not kafka.uses_tls:
        return None
    context = ssl.create_default_context(
        cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile is not None else None
    )
    if kafka.ssl_certfile is not None:
        context.load_cert_chain(
            str(kafka.ssl_certfile),
            str(kafka.ssl_keyfile) if kafka.ssl_keyfile is not None else None,
            kafka.ssl_password.get_secret_value() if kafka.ssl_password is not None else None,
        )
    if not kafka.ssl_check_hostname:
        context.check_hostname = False
    return context


def kafka_login_refusal(settings: Settings, servers: str | list[str] | None = None) -> str | None:
    """The brokers' answer when they refuse this client's SASL login; None when it is
    accepted, when no SASL is configured, or when no broker answers at all.

    kafka-python (3.0) retries a refused login until its bootstrap timeout and then says only
    "Unable to bootstrap" (the refusal is merely logged), so one aiokafka connection asks.
    """
    kafka = settings.kafka
    if not kafka.uses_sasl:
        return None
    options = kafka.client_options()
    del options["bootstrap_servers"]
    context = kafka_ssl_context(settings)
    servers = servers or kafka.bootstrap_servers
    addresses = servers.split(",") if isinstance(servers, str) else servers

    async def ask() -> str | None:
        from aiokafka.conn import create_conn
        from aiokafka.errors import KafkaError, SaslAuthenticationFailed

        for server in addresses:
            host, _, port = server.strip().rpartition(":")
            try:
                connection = await asyncio.wait_for(
                    create_conn(
                        host.strip("[]"),
                        int(port),
                        client_id="sitrep-login-check",
                        ssl_context=context,
                        **options,
                    ),
                    LOGIN_CHECK_TIMEOUT_S,
                )
            except SaslAuthenticationFailed as exc:
                return str(exc.args[0]) if exc.args else str(exc)
            except (OSError, TimeoutError, KafkaError, ValueError):
                continue  # this one does not answer; maybe another does
            connection.close()
            return None
        return None

    # A thread of its own: the caller may be inside a running event loop.
    answers: list[str | None] = []
    thread = threading.Thread(target=lambda: answers.append(asyncio.run(ask())), daemon=True)
    thread.start()
    thread.join(LOGIN_CHECK_TIMEOUT_S * 2)
    return answers[0] if answers else None


def _bootstrapped(
    settings: Settings, build: Callable[..., Client], options: dict[str, Any]
) -> Client:
    """``build(**options)``, with a refused SASL login reported as such instead of as
    kafka-python's bootstrap timeout (SaslAuthenticationFailedError, a KafkaError)."""
    from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

    try:
        return build(**options)
    except KafkaTimeoutError:
        refusal = kafka_login_refusal(settings, options.get("bootstrap_servers"))
        if refusal is None:
            raise
        raise SaslAuthenticationFailedError(
            f"Kafka refused the SASL login of user {settings.kafka.sasl_username!r} "
            f"({refusal}); check SITREP_KAFKA__SASL_USERNAME and SITREP_KAFKA__SASL_PASSWORD"
        ) from None


def kafka_admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    from kafka import KafkaAdminClient

    options = {"client_id": "sitrep-admin", **kafka_options(settings)}
    return _bootstrapped(settings, KafkaAdminClient, {**options, **overrides})


def kafka_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer that loses nothing it acknowledged: acks from all replicas, idempotent."""
    from kafka import KafkaProducer

    options: dict[str, Any] = {
        "client_id": "sitrep-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        **kafka_options(settings),
    }
    return _bootstrapped(settings, KafkaProducer, {**options, **overrides})


def kafka_consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    from kafka import KafkaConsumer

    options: dict[str, Any] = {
        "client_id": "sitrep-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **kafka_options(settings),
    }

    def build(**final: Any) -> KafkaConsumer:
        return KafkaConsumer(*topics, **final)

    return _bootstrapped(settings, build, {**options, **overrides})


def aiokafka_consumer(settings: Settings, **overrides: Any) -> AIOKafkaConsumer:
    """An asyncio consumer (call inside the running loop that will use it). For group
    consumers that rebalance: the indexer."""
    from aiokafka import AIOKafkaConsumer

    options: dict[str, Any] = {
        "client_id": "sitrep-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **settings.kafka.client_options(),
    }
    context = kafka_ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return AIOKafkaConsumer(**{**options, **overrides})


def elasticsearch(settings: Settings) -> Elasticsearch:
    from elasticsearch import Elasticsearch

    es = settings.elasticsearch
    options: dict[str, Any] = es.client_options()
    return Elasticsearch(es.url, **options)


def kibana(settings: Settings, url: str | None = None) -> httpx.Client:
    """HTTP client of Kibana's API (``url`` overrides SITREP_KIBANA__URL): credentials, TLS and
    the ``kbn-xsrf`` header Kibana requires on every request that changes something."""
    import httpx

    kibana = settings.kibana
    headers = {"kbn-xsrf": "sitrep"}
    auth: httpx.Auth | None = None
    if kibana.api_key is not None:
        key = kibana.api_key.get_secret_value()
        if ":" in key:  # id:key -> the encoded form Kibana expects
            key = base64.b64encode(key.encode()).decode()
        headers["Authorization"] = f"ApiKey {key}"
    elif kibana.username and kibana.password is not None:
        auth = httpx.BasicAuth(kibana.username, kibana.password.get_secret_value())
    verify: bool | ssl.SSLContext = kibana.verify_certs
    if kibana.verify_certs and kibana.ca_certs is not None:
        verify = ssl.create_default_context(cafile=str(kibana.ca_certs))
    return httpx.Client(
        base_url=(url or kibana.url).rstrip("/"),
        headers=headers,
        auth=auth,
        verify=verify,
        timeout=kibana.request_timeout_s,
    )
