"""Index management and the CLI against the real stack: setup, the mapping-change (reindex)
path with writers still running, retention, and `sitrep search`."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sinks.es.names import IndexNames
from sinks.es.setup import find_outdated, setup
from sinks.es.templates import TEMPLATE_VERSION
from sitrep.settings import Settings

from .test_sinks_indexer_it import count, status_record

pytestmark = pytest.mark.integration

SITREP = str(Path(sys.executable).with_name("sitrep"))


def sitrep(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "SITREP_INDEXER__INDEX_PREFIX": settings.indexer.index_prefix,
        "SITREP_ELASTICSEARCH__URL": settings.elasticsearch.url,
        "SITREP_LOG__LEVEL": "WARNING",
    }
    return subprocess.run([SITREP, *args], env=env, capture_output=True, text=True, timeout=300)


def test_setup_is_idempotent_and_creates_the_single_indices(isolated: Settings, es: Any) -> None:
    names = IndexNames(isolated.indexer.index_prefix)
    first = sitrep(isolated, "es", "setup")
    assert first.returncode == 0, first.stderr
    assert f"template {names.reports}" in first.stdout and "created" in first.stdout
    again = sitrep(isolated, "es", "setup")
    assert again.returncode == 0
    assert "created" not in again.stdout and again.stdout.count("unchanged") == 5
    assert es.indices.exists(index=names.status) and es.indices.exists(index=names.alerts)
    template = es.indices.get_index_template(name=names.reports)["index_templates"][0]
    assert template["index_template"]["version"] == TEMPLATE_VERSION


def test_reindex_rebuilds_indices_and_writers_carry_on_through_the_alias(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
) -> None:
    names = IndexNames(isolated.indexer.index_prefix)
    february = [make_report(report_id=f"ri-{i}") for i in range(3)]
    updated = datetime(2024, 2, 14, 10, 0, tzinfo=UTC)
    send(isolated, isolated.kafka.topics.reports, [as_record(r) for r in february])
    send(isolated, isolated.kafka.topics.status, [status_record("64.71", updated, "SIAGA", 20)])
    month = f"{names.reports}-2024.02"

    with indexer(isolated) as metrics:
        wait(lambda: count(es, names.reports) == 3, 30, "reports indexed")
        wait(lambda: count(es, names.status) == 1, 30, "status indexed")

        # An index created by an older template version, as after an upgrade.
        old = f"{names.reports}-2023.12"
        es.indices.create(index=old, mappings={"_meta": {"template_version": 0}})
        assert [o.index for o in find_outdated(es, names)] == [old]

        result = sitrep(isolated, "es", "reindex", "--dry-run")
        assert result.returncode == 0, result.stderr
        assert f"{old} -> {old}-r{TEMPLATE_VERSION}" in result.stdout
        assert es.indices.exists(index=old) and not es.indices.exists_alias(name=old)

        result = sitrep(isolated, "es", "reindex")
        assert result.returncode == 0, result.stderr
        assert find_outdated(es, names) == []
        assert list(es.indices.get_alias(name=old)) == [f"{old}-r{TEMPLATE_VERSION}"]

        # Forced rebuild of live indices while the indexer runs.
        result = sitrep(isolated, "es", "reindex", "--index", month, "--index", names.status)
        assert result.returncode == 0, result.stderr
        assert "3 documents" in result.stdout

        new_month = f"{month}-r{TEMPLATE_VERSION}"
        assert list(es.indices.get_alias(name=month)) == [new_month]
        assert sorted(es.indices.get_alias(name=names.reports)) == sorted(
            [new_month, f"{old}-r{TEMPLATE_VERSION}"]
        )
        assert count(es, names.reports) == 3
        assert count(es, names.reports, query={"match": {"text_stem": "bentrok"}}) == 3
        status = es.get(index=names.status, id="64.71")
        assert status["_index"] == f"{names.status}-r{TEMPLATE_VERSION}"
        assert status["_version"] == int(updated.timestamp() * 1000)  # external version kept

        # The indexer keeps writing to the same names, now aliases of the new generation.
        late = make_report(report_id="ri-late")
        send(isolated, isolated.kafka.topics.reports, [as_record(late)])
        older = status_record("64.71", updated - timedelta(minutes=1), "AMAN", 0)
        newer = status_record("64.71", updated + timedelta(minutes=1), "AWAS", 50)
        send(isolated, isolated.kafka.topics.status, [older, newer])
        wait(lambda: count(es, names.reports) == 4, 30, "write through the alias")
        wait(
            lambda: es.get(index=names.status, id="64.71")["_source"]["level"] == "AWAS",
            30,
            "newer status through the alias",
        )
        assert count(es, month) == 4
    stale = metrics.value(
        "sitrep_indexer_documents_total", topic=isolated.kafka.topics.status, outcome="stale"
    )
    assert stale == 1


def test_writes_to_a_blocked_index_wait_instead_of_failing(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
) -> None:
    names = IndexNames(isolated.indexer.index_prefix)
    setup(es, isolated.indexer)
    month = f"{names.reports}-2024.02"
    es.indices.create(index=month)
    es.indices.add_block(index=month, block="write")
    send(isolated, isolated.kafka.topics.reports, [as_record(make_report(report_id="blocked-1"))])
    with indexer(isolated) as metrics:
        wait(
            lambda: metrics.value("sitrep_indexer_retries_total", reason="blocked") >= 2,
            30,
            "retries",
        )
        assert count(es, names.reports) == 0
        es.indices.put_settings(index=month, settings={"index.blocks.write": None})
        wait(lambda: count(es, names.reports) == 1, 30, "indexed after the block is lifted")
    assert metrics.value("sitrep_indexer_deadlettered_total", reason="index_rejected") == 0


def test_prune_is_a_dry_run_unless_applied_and_keeps_recent_months(
    isolated: Settings, es: Any
) -> None:
    names = IndexNames(isolated.indexer.index_prefix)
    setup(es, isolated.indexer)
    now = datetime.now(UTC)
    old, old_history = f"{names.reports}-2020.01", f"{names.status_history}-2020.02"
    recent = names.report_index(now)
    for index in (old, old_history, recent):
        es.indices.create(index=index)

    dry = sitrep(isolated, "es", "prune", "--older-than", "400d")
    assert dry.returncode == 0, dry.stderr
    assert old in dry.stdout and old_history in dry.stdout and recent not in dry.stdout
    assert "dry run: 2 index(es) would be deleted" in dry.stdout
    assert es.indices.exists(index=old)

    applied = sitrep(isolated, "es", "prune", "--older-than", "400d", "--apply")
    assert applied.returncode == 0, applied.stderr
    assert not es.indices.exists(index=old) and not es.indices.exists(index=old_history)
    assert es.indices.exists(index=recent) and es.indices.exists(index=names.status)

    bad = sitrep(isolated, "es", "prune", "--older-than", "soon")
    assert bad.returncode == 2 and "400d" in bad.stderr


def test_search_command_table_json_errors_and_export(
    isolated: Settings,
    es: Any,
    make_report: Any,
    send: Any,
    as_record: Any,
    indexer: Any,
    wait: Any,
    tmp_path: Path,
) -> None:
    names = IndexNames(isolated.indexer.index_prefix)
    reports = [
        make_report(report_id="cli-1", text="Bentrokan di Balikpapan."),
        make_report(report_id="cli-2", text="Massa bentrok lagi.", district="64.72"),
        make_report(report_id="cli-3", text="Pembagian amplop.", category="money_politics"),
    ]
    send(isolated, isolated.kafka.topics.reports, [as_record(r) for r in reports])
    with indexer(isolated):
        wait(lambda: count(es, names.reports) == 3, 30, "indexed")

    table = sitrep(isolated, "search", "bentrok", "--facets")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("2 laporan (Asia/Makassar)")
    assert "cli-1" in table.stdout and "Kota Samarinda" in table.stdout

    as_json = sitrep(isolated, "search", "bentrok", "--regency", "64.72", "--json", "--lang", "en")
    document = json.loads(as_json.stdout)
    assert document["total"] == 1 and document["hits"][0]["report_id"] == "cli-2"
    assert document["hits"][0]["category_label"] == "Clash"

    bad = sitrep(isolated, "search", "(amplop")
    assert bad.returncode == 1
    assert 'Kurung "(" pada posisi 1 tidak ditutup.' in bad.stderr

    out = tmp_path / "hasil.csv"
    exported = sitrep(isolated, "search", "--export", "csv", "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    with out.open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["report_id"] for r in rows) == ["cli-1", "cli-2", "cli-3"]
    assert "3 reports written" in exported.stdout
