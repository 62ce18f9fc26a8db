"""Table values are written with orjson and must stay what the json module reads and wrote."""

from __future__ import annotations

import json

from streams import codec
from streams.incidents import IncidentRecord

VALUE = {
    "code": "64.02.08",
    "name": "Kota Bangun — Ulu",  # non-ASCII survives
    "score": 12.345678901234567,
    "ints": [0, -1, 2**53],
    "none": None,
    "nested": {"top": [["r-1", 2.5, 29_000_000]]},
}


def test_values_read_back_as_the_json_module_reads_them() -> None:
    assert json.loads(codec.dumps(VALUE)) == VALUE
    assert codec.loads(codec.dumps(VALUE)) == VALUE


def test_values_written_by_the_json_module_before_the_switch_still_read() -> None:
    old = json.dumps(VALUE, separators=(",", ":")).encode()
    assert codec.loads(old) == VALUE


def test_number_keys_become_strings_as_with_the_json_module() -> None:
    buckets = {29_000_000: [1, 2], 29_000_001: [0, 3]}
    assert json.loads(codec.dumps(buckets)) == json.loads(json.dumps(buckets))


def test_an_incident_record_keeps_its_plain_expiry_prefix() -> None:
    record = IncidentRecord.empty("64.02", 3)
    raw = record.encode()
    assert IncidentRecord.expiry_of(raw) == (3, 0)
    assert IncidentRecord.decode(raw) == record
