"""The local Kafka's server.properties as `sitrep stack up` renders it, without and with SASL
(SITREP_STACK__KAFKA_SASL), and the checks that stop a stack the clients could not talk to.
No broker is started."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sitrep.settings import KafkaSettings, Settings, StackSettings
from sitrep.stack.kafka import KafkaService, check_client_settings, render_config
from sitrep.stack.tools import StackError

PASSWORD = "sandi-Kafka_9.rahasia"

# The config as it has always been rendered: without SASL not a byte may change.
DEFAULT_CONFIG = """\
# Single-node Apache Kafka in KRaft mode (broker + controller in one process) for development
# and tests. Rendered by `sitrep stack up` into ${SITREP_HOME}/kafka/server.properties.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:19093
listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093
advertised.listeners=PLAINTEXT://127.0.0.1:19092
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT

log.dirs=/data/kafka
num.partitions=6
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1

# Topics are created deliberately (`sitrep topics ensure`, Faust's own declarations), so a typo in
# a topic name fails loudly instead of silently creating a topic with the wrong settings.
auto.create.topics.enable=false
# One member per group in development: do not wait for more before the first rebalance.
group.initial.rebalance.delay.ms=0

log.retention.check.interval.ms=300000
log.segment.bytes=268435456
num.network.threads=2
num.io.threads=4
"""


def make_settings(tmp_path: Path, sasl: bool = False, **kafka: Any) -> Settings:
    stack = StackSettings(kafka_port=19092, kafka_controller_port=19093, kafka_sasl=sasl)
    if sasl:
        kafka = {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_username": "sitrep",
            "sasl_password": SecretStr(PASSWORD),
            **kafka,
        }
    return Settings(home=tmp_path / "home", stack=stack, kafka=KafkaSettings(**kafka))


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_without_sasl_the_config_is_what_it_always_was(tmp_path: Path) -> None:
    assert render_config(make_settings(tmp_path), Path("/data/kafka")) == DEFAULT_CONFIG


def test_with_sasl_the_client_listener_takes_plain_logins(tmp_path: Path) -> None:
    rendered = render_config(make_settings(tmp_path, sasl=True), Path("/data/kafka"))
    plain, sasl = properties(DEFAULT_CONFIG), properties(rendered)
    changed = {key: value for key, value in sasl.items() if plain.get(key) != value}
    jaas = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="sitrep" password="{PASSWORD}" user_sitrep="{PASSWORD}";'
    )
    assert changed == {
        "listeners": "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
        "advertised.listeners": "SASL_PLAINTEXT://127.0.0.1:19092",
        # The controller stays plaintext on loopback.
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": "PLAIN",
        "sasl.mechanism.inter.broker.protocol": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
    }
    assert set(plain) <= set(sasl)


def test_the_written_config_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    service = KafkaService(make_settings(tmp_path, sasl=True))
    service.config_file.parent.mkdir(parents=True)
    service.config_file.write_text("old\n")
    service.config_file.chmod(0o644)
    service._render_config()
    assert PASSWORD in service.config_file.read_text()
    assert service.config_file.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in service.config_file.parent.iterdir()] == ["server.properties"]


@pytest.mark.parametrize(
    ("sasl", "kafka", "message"),
    [
        (
            True,
            {"security_protocol": "PLAINTEXT"},
            "SITREP_KAFKA__SECURITY_PROTOCOL is PLAINTEXT; set it to SASL_PLAINTEXT",
        ),
        (
            False,
            {"security_protocol": "SASL_PLAINTEXT"},
            "set it to PLAINTEXT, or SITREP_STACK__KAFKA_SASL=true for SASL_PLAINTEXT",
        ),
        (False, {"security_protocol": "SSL"}, "SITREP_KAFKA__SECURITY_PROTOCOL is SSL"),
        (True, {"sasl_mechanism": "SCRAM-SHA-512"}, "offers SASL mechanism PLAIN only"),
        (True, {"sasl_username": None}, "needs SITREP_KAFKA__SASL_USERNAME"),
        (True, {"sasl_username": "ops team"}, "needs SITREP_KAFKA__SASL_USERNAME"),
        (True, {"sasl_password": None}, "needs SITREP_KAFKA__SASL_PASSWORD"),
        (True, {"sasl_password": SecretStr('sa"ndi')}, "without spaces, quotes or backslashes"),
        (True, {"sasl_password": SecretStr("sa\\ndi")}, "without spaces, quotes or backslashes"),
        (True, {"sasl_password": SecretStr("sa ndi")}, "without spaces, quotes or backslashes"),
        (True, {"sasl_password": SecretStr("sändi")}, "without spaces, quotes or backslashes"),
    ],
)
def test_settings_the_local_listener_cannot_serve_are_refused_up_front(
    tmp_path: Path, sasl: bool, kafka: dict[str, Any], message: str
) -> None:
    settings = make_settings(tmp_path, sasl=sasl, **kafka)
    with pytest.raises(StackError, match="SITREP_") as refused:
        check_client_settings(settings)
    assert message in str(refused.value)
    password = settings.kafka.sasl_password
    assert password is None or password.get_secret_value() not in str(refused.value)


@pytest.mark.parametrize(
    "user",
    [{"sasl_username": None}, {"sasl_username": "a=b"}, {"sasl_password": SecretStr('x" y')}],
)
def test_no_config_is_rendered_for_a_user_the_jaas_line_cannot_hold(
    tmp_path: Path, user: dict[str, Any]
) -> None:
    with pytest.raises(StackError):
        render_config(make_settings(tmp_path, sasl=True, **user), Path("/data/kafka"))


@pytest.mark.parametrize("sasl", [False, True])
def test_matching_settings_pass(tmp_path: Path, sasl: bool) -> None:
    check_client_settings(make_settings(tmp_path, sasl=sasl))
    KafkaService(make_settings(tmp_path, sasl=sasl)).preflight(running=False)


@pytest.mark.parametrize(("started_with", "now"), [(True, False), (False, True)])
def test_a_running_broker_is_not_silently_kept_with_the_other_mode(
    tmp_path: Path, started_with: bool, now: bool
) -> None:
    running = KafkaService(make_settings(tmp_path, sasl=started_with))
    running.config_file.parent.mkdir(parents=True)
    running.config_file.write_text(render_config(running.settings, running.data_dir))
    running.preflight(running=True)  # same mode: fine

    switched = KafkaService(make_settings(tmp_path, sasl=now))
    with pytest.raises(StackError) as refused:
        switched.preflight(running=True)
    mode = "with" if started_with else "without"
    assert f"Kafka is running {mode} SASL" in str(refused.value)
    assert "`sitrep stack down --only kafka` then `sitrep stack up`" in str(refused.value)
    switched.preflight(running=False)  # stopped: the next start renders the new mode
