"""Where clients are built from settings: the one place that knows how to connect to things."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sitrep.settings import Settings

if TYPE_CHECKING:
    from aiokafka import AIOKafkaConsumer
    from elasticsearch import Elasticsearch
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer


def kafka_admin(settings: Settings, **overrides: Any) -> KafkaAdminClient:
    from kafka import KafkaAdminClient

    options = {"client_id": "sitrep-admin", **settings.kafka.client_options()}
    return KafkaAdminClient(**{**options, **overrides})


def kafka_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A producer that loses nothing it acknowledged: acks from all replicas, idempotent."""
    from kafka import KafkaProducer

    options: dict[str, Any] = {
        "client_id": "sitrep-producer",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        **settings.kafka.client_options(),
    }
    return KafkaProducer(**{**options, **overrides})


def kafka_consumer(settings: Settings, *topics: str, **overrides: Any) -> KafkaConsumer:
    from kafka import KafkaConsumer

    options: dict[str, Any] = {
        "client_id": "sitrep-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **settings.kafka.client_options(),
    }
    return KafkaConsumer(*topics, **{**options, **overrides})


def aiokafka_consumer(settings: Settings, **overrides: Any) -> AIOKafkaConsumer:
    """An asyncio consumer (call inside the running loop that will use it). For group
    consumers that rebalance: the indexer."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.helpers import create_ssl_context

    options: dict[str, Any] = {
        "client_id": "sitrep-consumer",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **settings.kafka.client_options(),
    }
    if settings.kafka.security_protocol.endswith("SSL"):
        options["ssl_context"] = create_ssl_context()  # the system's trusted CAs
    return AIOKafkaConsumer(**{**options, **overrides})


def elasticsearch(settings: Settings) -> Elasticsearch:
    from elasticsearch import Elasticsearch

    es = settings.elasticsearch
    auth: dict[str, Any] = {}
    if es.api_key is not None:
        auth["api_key"] = es.api_key.get_secret_value()
    elif es.username and es.password is not None:
        auth["basic_auth"] = (es.username, es.password.get_secret_value())
    return Elasticsearch(
        es.url,
        verify_certs=es.verify_certs,
        request_timeout=es.request_timeout_s,
        **auth,
    )
