"""A handful of realistic example reports for a province, for the demo and smoke tests.

Pure: the same registry, province, count and clock give the same reports.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from schemas.registry import AreaRegistry

# (kind, category, severity, text) — typical lines from an election-security operation.
_EXAMPLES: tuple[tuple[str, str, int, str], ...] = (
    ("check_in", "other", 1, "Situasi aman dan kondusif, patroli rutin di sekitar kantor KPU."),
    (
        "incident",
        "campaign_violation",
        2,
        "Alat peraga kampanye dipasang di luar zona yang diizinkan.",
    ),
    ("incident", "money_politics", 3, "Warga melaporkan pembagian amplop oleh tim sukses."),
    ("incident", "hoax", 2, "Beredar pesan berantai hoaks tentang penundaan pemungutan suara."),
    ("incident", "crowd", 3, "Massa berkumpul di depan kantor Bawaslu, situasi masih terkendali."),
    ("incident", "vandalism", 2, "Baliho calon dirusak oleh orang tidak dikenal pada malam hari."),
    ("incident", "intimidation", 4, "Saksi TPS mendapat ancaman dari kelompok tidak dikenal."),
    ("check_in", "other", 1, "Pengamanan logistik pemilu tiba di gudang dengan lengkap."),
)


def sample_reports(
    registry: AreaRegistry, province_code: str, count: int, now: datetime
) -> list[dict[str, Any]]:
    """``count`` wire-format reports (as dicts) spread over the province's regencies."""
    regencies = registry.regencies(province_code)
    if not regencies:
        raise ValueError(f"province {province_code!r} has no regencies in the registry")
    reports = []
    for index in range(count):
        regency = regencies[index % len(regencies)]
        districts = registry.districts(regency.code)
        kind, category, severity, text = _EXAMPLES[index % len(_EXAMPLES)]
        occurred = now - timedelta(minutes=5 * (count - index))
        reports.append(
            {
                "report_id": f"demo-{now:%Y%m%dT%H%M%S}-{index:04d}",
                "occurred_at": occurred.isoformat(),
                "received_at": (occurred + timedelta(seconds=30)).isoformat(),
                "district": regency.code,
                **({"subdistrict": districts[index % len(districts)].code} if districts else {}),
                "kind": kind,
                "category": category,
                "severity": severity,
                "reporter": {"unit": f"Polres {regency.name}", "role": "bhabinkamtibmas"},
                "source": "app",
                "phase": "campaign",
                "text": text,
                "schema_version": 1,
            }
        )
    return reports
