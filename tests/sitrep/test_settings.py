"""Settings come from SITREP_* variables (nested with __) and .env, are frozen, and hide secrets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from sitrep.settings import load_settings


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for variable in [name for name in os.environ if name.startswith("SITREP_")]:
        monkeypatch.delenv(variable)
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "127.0.0.1:9092"
    assert settings.elasticsearch.url == "http://127.0.0.1:9200"
    assert settings.kafka.topics.reports == "sitrep.reports"
    assert settings.kafka.partitions == 6
    assert settings.province_code == "64"


def test_nested_environment_variables_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITREP_KAFKA__BOOTSTRAP_SERVERS", "10.1.2.3:9092,10.1.2.4:9092")
    monkeypatch.setenv("SITREP_KAFKA__TOPICS__ALERTS", "ops.alerts")
    monkeypatch.setenv("SITREP_STACK__ES_HEAP", "1g")
    settings = load_settings()
    assert settings.kafka.client_options()["bootstrap_servers"] == [
        "10.1.2.3:9092",
        "10.1.2.4:9092",
    ]
    assert settings.kafka.topics.alerts == "ops.alerts"
    assert settings.stack.es_heap == "1g"


def test_dotenv_file_is_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SITREP_PROVINCE_CODE=32\nSITREP_KAFKA__PARTITIONS=12\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.province_code == "32"
    assert settings.kafka.partitions == 12


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.province_code = "11"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.kafka.partitions = 1  # type: ignore[misc]


def test_secrets_never_show_in_reprs_or_dumps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITREP_ELASTICSEARCH__PASSWORD", "rahasia-sekali")
    monkeypatch.setenv("SITREP_KAFKA__SASL_PASSWORD", "juga-rahasia")
    settings = load_settings()
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "rahasia-sekali" not in shown
        assert "juga-rahasia" not in shown
    assert settings.elasticsearch.password is not None
    assert settings.elasticsearch.password.get_secret_value() == "rahasia-sekali"


def test_invalid_values_are_rejected_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SITREP_KAFKA__PARTITIONS", "0")
    with pytest.raises(ValidationError) as excinfo:
        load_settings()
    assert "partitions" in str(excinfo.value)


def test_operation_time_zone_is_shared_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().timezone == "Asia/Makassar"
    monkeypatch.setenv("SITREP_TIMEZONE", "Asia/Jakarta")
    assert load_settings().timezone == "Asia/Jakarta"
    monkeypatch.setenv("SITREP_TIMEZONE", "Asia/Atlantis")
    with pytest.raises(ValidationError, match="unknown time zone"):
        load_settings()
