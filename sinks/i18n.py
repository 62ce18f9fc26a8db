"""User-facing text of the sinks in Indonesian (default) and English.

Messages are looked up by code so the API can answer in the caller's language
(``?lang=en`` or ``Accept-Language: en``); labels name the wire enums for people.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Final, Literal

from schemas.alert import AlertState, AlertTier
from schemas.report import (
    Category,
    IncidentState,
    OperationPhase,
    ReporterRole,
    ReportKind,
    ReportSource,
)

Lang = Literal["id", "en"]
LANGUAGES: Final[tuple[Lang, ...]] = ("id", "en")

MESSAGES: Final[dict[str, dict[Lang, str]]] = {
    "login_required": {
        "id": "Perlu masuk (login) atau token operator (Authorization: Bearer ...).",
        "en": "Log in first, or send an operator token (Authorization: Bearer ...).",
    },
    "login_failed": {
        "id": "Nama pengguna atau kata sandi salah.",
        "en": "Wrong user name or password.",
    },
    "login_rate_limited": {
        "id": "Terlalu banyak percobaan masuk yang gagal; coba lagi dalam {seconds} detik.",
        "en": "Too many failed logins; try again in {seconds} s.",
    },
    "login_body": {
        "id": "Kirim user dan password sebagai JSON atau formulir.",
        "en": "Send user and password as JSON or as a form.",
    },
    "token_unknown": {
        "id": "Token operator tidak dikenal atau sudah dicabut.",
        "en": "Unknown or revoked operator token.",
    },
    "user_unknown": {
        "id": "Pengguna {user} tidak terdaftar di layanan ini.",
        "en": "User {user} is not known to this service.",
    },
    "role_missing": {
        "id": "Perlu peran {role}; {user} berperan {current}.",
        "en": "This needs the {role} role; {user} has the {current} role.",
    },
    "operator_not_found": {
        "id": "Token operator {token_id} tidak ada.",
        "en": "Operator token {token_id} does not exist.",
    },
    "alert_not_found": {
        "id": "Peringatan {alert_id} tidak ditemukan (mungkin belum terindeks).",
        "en": "Alert {alert_id} not found (it may not be indexed yet).",
    },
    "alert_resolved": {
        "id": "Peringatan {alert_id} sudah selesai dan tidak dapat dikonfirmasi lagi.",
        "en": "Alert {alert_id} is already resolved and cannot be acknowledged.",
    },
    "kafka_unavailable": {
        "id": "Kafka tidak dapat dihubungi: {error}",
        "en": "Kafka is unreachable: {error}",
    },
    "silence_end": {
        "id": "Isi salah satu: ends_at atau duration_minutes.",
        "en": "Give exactly one of ends_at and duration_minutes.",
    },
    "silence_invalid": {
        "id": "Senyap tidak sah: {detail}",
        "en": "Invalid silence: {detail}",
    },
    "query_unclosed_quote": {
        "id": "Tanda kutip pada posisi {position} tidak ditutup.",
        "en": "The quote at position {position} is not closed.",
    },
    "query_empty_phrase": {
        "id": "Frasa dalam tanda kutip pada posisi {position} kosong.",
        "en": "The quoted phrase at position {position} is empty.",
    },
    "query_dangling_minus": {
        "id": 'Tanda "-" pada posisi {position} harus langsung diikuti kata yang dikecualikan, '
        "mis. -hoaks.",
        "en": 'The "-" at position {position} must be followed directly by the word to exclude, '
        "e.g. -hoaks.",
    },
    "query_dangling_or": {
        "id": "OR pada posisi {position} harus berada di antara dua kata atau frasa.",
        "en": "OR at position {position} must stand between two words or phrases.",
    },
    "query_empty_group": {
        "id": "Kurung pada posisi {position} kosong.",
        "en": "The parentheses at position {position} are empty.",
    },
    "query_unclosed_group": {
        "id": 'Kurung "(" pada posisi {position} tidak ditutup.',
        "en": 'The "(" at position {position} is not closed.',
    },
    "query_unopened_group": {
        "id": 'Kurung ")" pada posisi {position} tidak punya pasangan "(".',
        "en": 'The ")" at position {position} has no matching "(".',
    },
    "query_bad_wildcard": {
        "id": '"{word}": tanda * hanya boleh di akhir kata, setelah minimal {min} huruf '
        "(mis. bentro*).",
        "en": '"{word}": * is only allowed at the end of a word, after at least {min} letters '
        "(e.g. bentro*).",
    },
    "query_too_long": {
        "id": "Kueri terlalu panjang (maksimal {limit} karakter).",
        "en": "The query is too long (at most {limit} characters).",
    },
    "query_too_many_terms": {
        "id": "Kueri memuat terlalu banyak kata (maksimal {limit}).",
        "en": "The query has too many words (at most {limit}).",
    },
    "invalid_parameter": {
        "id": "Parameter {name} tidak valid: {detail}",
        "en": "Invalid parameter {name}: {detail}",
    },
    "unknown_value": {
        "id": "nilai {value!r} tidak dikenal; pilihan: {allowed}",
        "en": "unknown value {value!r}; allowed: {allowed}",
    },
    "not_a_number": {
        "id": "{value!r} bukan bilangan bulat",
        "en": "{value!r} is not a whole number",
    },
    "out_of_range": {
        "id": "harus antara {low} dan {high}",
        "en": "must be between {low} and {high}",
    },
    "severity_range": {
        "id": "severity_min ({low}) lebih besar dari severity_max ({high})",
        "en": "severity_min ({low}) is greater than severity_max ({high})",
    },
    "bad_time": {
        "id": "{value!r} bukan waktu; gunakan mis. 2024-02-14, 2024-02-14T09:30 atau "
        "2024-02-14T09:30:00+08:00",
        "en": "{value!r} is not a time; use e.g. 2024-02-14, 2024-02-14T09:30 or "
        "2024-02-14T09:30:00+08:00",
    },
    "time_range": {
        "id": "awal rentang waktu ({start}) tidak sebelum akhirnya ({end})",
        "en": "the start of the time range ({start}) is not before its end ({end})",
    },
    "unknown_timezone": {
        "id": "zona waktu {value!r} tidak dikenal; gunakan WIB, WITA, WIT, UTC atau nama IANA",
        "en": "unknown time zone {value!r}; use WIB, WITA, WIT, UTC or an IANA name",
    },
    "unknown_area": {
        "id": "wilayah {value!r} tidak ditemukan sebagai {level}",
        "en": "no {level} {value!r} found",
    },
    "ambiguous_area": {
        "id": "nama {value!r} cocok dengan beberapa wilayah ({candidates}); gunakan kodenya",
        "en": "the name {value!r} matches several areas ({candidates}); use its code",
    },
    "bad_cursor": {
        "id": "kursor halaman tidak valid atau milik urutan lain; mulai lagi dari halaman pertama",
        "en": "the page cursor is invalid or belongs to another sort order; start again from "
        "the first page",
    },
    "report_not_found": {
        "id": "Laporan {report_id} tidak ditemukan.",
        "en": "Report {report_id} not found.",
    },
    "search_unavailable": {
        "id": "Layanan pencarian sedang tidak tersedia. Coba lagi sebentar lagi.",
        "en": "The search service is unavailable. Try again shortly.",
    },
    "search_failed": {
        "id": "Pencarian tidak dapat dijalankan: {detail}",
        "en": "The search could not be run: {detail}",
    },
    "report_date_invalid": {
        "id": "Tanggal {value!r} tidak valid; gunakan format YYYY-MM-DD, mis. 2024-11-27.",
        "en": "Invalid date {value!r}; use the form YYYY-MM-DD, e.g. 2024-11-27.",
    },
    # --- daily situation report (sinks/report) ---
    "daily_title": {
        "id": "Laporan Situasi Harian {province}",
        "en": "Daily Situation Report {province}",
    },
    "daily_period": {
        "id": "{date}, pukul 00.00–24.00 {zone}",
        "en": "{date}, 00:00–24:00 {zone}",
    },
    "daily_generated": {"id": "Dibuat {when}", "en": "Generated {when}"},
    "daily_summary": {"id": "Ringkasan", "en": "Summary"},
    "daily_summary_reports": {
        "id": "Jumlah laporan: {total} ({incidents} kejadian, {check_ins} laporan situasi aman)",
        "en": "Reports: {total} ({incidents} incidents, {check_ins} check-ins)",
    },
    "daily_summary_changes": {
        "id": "Perubahan status wilayah: {count}",
        "en": "Level changes: {count}",
    },
    "daily_summary_alerts": {
        "id": "Peringatan: {count} ({open} belum selesai)",
        "en": "Alerts: {count} ({open} not resolved)",
    },
    "daily_regencies": {"id": "Laporan per kabupaten/kota", "en": "Reports per regency/city"},
    "daily_categories": {"id": "Kejadian per kategori", "en": "Incidents per category"},
    "daily_changes": {"id": "Perubahan status wilayah", "en": "Level changes"},
    "daily_alerts": {"id": "Peringatan dan penanganannya", "en": "Alerts and their handling"},
    "daily_notable": {"id": "Laporan menonjol", "en": "Notable reports"},
    "daily_none": {"id": "Tidak ada.", "en": "None."},
    "daily_total": {"id": "Jumlah", "en": "Total"},
    "daily_col_code": {"id": "Kode", "en": "Code"},
    "daily_col_regency": {"id": "Kabupaten/kota", "en": "Regency/city"},
    "daily_col_reports": {"id": "Laporan", "en": "Reports"},
    "daily_col_incidents": {"id": "Kejadian", "en": "Incidents"},
    "daily_col_check_ins": {"id": "Situasi aman", "en": "Check-ins"},
    "daily_col_category": {"id": "Kategori", "en": "Category"},
    "daily_col_time": {"id": "Waktu", "en": "Time"},
    "daily_col_area": {"id": "Wilayah", "en": "Area"},
    "daily_col_from": {"id": "Dari", "en": "From"},
    "daily_col_to": {"id": "Menjadi", "en": "To"},
    "daily_col_reason": {"id": "Alasan", "en": "Reason"},
    "daily_col_fired": {"id": "Dipicu", "en": "Fired"},
    "daily_col_rule": {"id": "Aturan", "en": "Rule"},
    "daily_col_tier": {"id": "Tingkat", "en": "Tier"},
    "daily_col_state": {"id": "Status", "en": "State"},
    "daily_col_acknowledged": {"id": "Ditangani oleh", "en": "Acknowledged by"},
    "daily_col_resolved": {"id": "Selesai", "en": "Resolved"},
    "daily_col_severity": {"id": "Keparahan", "en": "Severity"},
    "daily_col_report": {"id": "Laporan", "en": "Report"},
    "daily_col_text": {"id": "Isi", "en": "Text"},
    "daily_page": {"id": "Halaman {page} dari {pages}", "en": "Page {page} of {pages}"},
}

_LEVEL_NAMES: Final[dict[str, dict[Lang, str]]] = {
    "regency": {"id": "kabupaten/kota", "en": "regency/city"},
    "district": {"id": "kecamatan", "en": "kecamatan (district)"},
    "village": {"id": "desa/kelurahan", "en": "village"},
}

CATEGORY_LABELS: Final[dict[Category, dict[Lang, str]]] = {
    Category.CAMPAIGN_VIOLATION: {"id": "Pelanggaran kampanye", "en": "Campaign violation"},
    Category.MONEY_POLITICS: {"id": "Politik uang", "en": "Money politics"},
    Category.INTIMIDATION: {"id": "Intimidasi", "en": "Intimidation"},
    Category.CLASH: {"id": "Bentrokan", "en": "Clash"},
    Category.RIOT: {"id": "Kerusuhan", "en": "Riot"},
    Category.HOAX: {"id": "Hoaks", "en": "Hoax"},
    Category.VANDALISM: {"id": "Perusakan", "en": "Vandalism"},
    Category.LOGISTICS: {"id": "Logistik", "en": "Logistics"},
    Category.CROWD: {"id": "Kerumunan massa", "en": "Crowd"},
    Category.CRIME: {"id": "Kriminalitas", "en": "Crime"},
    Category.HAZARD: {"id": "Bencana/bahaya", "en": "Hazard"},
    Category.OTHER: {"id": "Lainnya", "en": "Other"},
}

KIND_LABELS: Final[dict[ReportKind, dict[Lang, str]]] = {
    ReportKind.INCIDENT: {"id": "Kejadian", "en": "Incident"},
    ReportKind.CHECK_IN: {"id": "Laporan situasi aman", "en": "Check-in"},
}

STATE_LABELS: Final[dict[IncidentState, dict[Lang, str]]] = {
    IncidentState.OPEN: {"id": "Terbuka", "en": "Open"},
    IncidentState.HANDLING: {"id": "Ditangani", "en": "Handling"},
    IncidentState.RESOLVED: {"id": "Selesai", "en": "Resolved"},
}

PHASE_LABELS: Final[dict[OperationPhase, dict[Lang, str]]] = {
    OperationPhase.PRE_CAMPAIGN: {"id": "Pra-kampanye", "en": "Pre-campaign"},
    OperationPhase.CAMPAIGN: {"id": "Kampanye", "en": "Campaign"},
    OperationPhase.QUIET_PERIOD: {"id": "Masa tenang", "en": "Quiet period"},
    OperationPhase.VOTING: {"id": "Pemungutan suara", "en": "Voting"},
    OperationPhase.COUNTING: {"id": "Penghitungan suara", "en": "Counting"},
    OperationPhase.RECAP: {"id": "Rekapitulasi", "en": "Recapitulation"},
    OperationPhase.INAUGURATION: {"id": "Pelantikan", "en": "Inauguration"},
    OperationPhase.OTHER: {"id": "Lainnya", "en": "Other"},
}

SOURCE_LABELS: Final[dict[ReportSource, dict[Lang, str]]] = {
    ReportSource.APP: {"id": "Aplikasi", "en": "App"},
    ReportSource.RADIO: {"id": "Radio", "en": "Radio"},
    ReportSource.SMS: {"id": "SMS", "en": "SMS"},
    ReportSource.HOTLINE: {"id": "Hotline", "en": "Hotline"},
    ReportSource.SOCIAL_MEDIA: {"id": "Media sosial", "en": "Social media"},
    ReportSource.FILE: {"id": "Berkas", "en": "File"},
}

ROLE_LABELS: Final[dict[ReporterRole, dict[Lang, str]]] = {
    ReporterRole.BHABINKAMTIBMAS: {"id": "Bhabinkamtibmas", "en": "Village police officer"},
    ReporterRole.PATROL: {"id": "Patroli", "en": "Patrol"},
    ReporterRole.INTEL: {"id": "Intelkam", "en": "Intelligence"},
    ReporterRole.POLSEK: {"id": "Polsek", "en": "Sub-district police"},
    ReporterRole.POLRES: {"id": "Polres", "en": "District police"},
    ReporterRole.POLDA: {"id": "Polda", "en": "Provincial police"},
    ReporterRole.BRIMOB: {"id": "Brimob", "en": "Mobile brigade"},
    ReporterRole.BABINSA: {"id": "Babinsa", "en": "Army village officer"},
    ReporterRole.LINMAS: {"id": "Linmas", "en": "Civil protection"},
    ReporterRole.ELECTION_OFFICIAL: {"id": "Penyelenggara pemilu", "en": "Election official"},
    ReporterRole.ELECTION_SUPERVISOR: {"id": "Pengawas pemilu", "en": "Election supervisor"},
    ReporterRole.PUBLIC: {"id": "Masyarakat", "en": "Public"},
    ReporterRole.OTHER: {"id": "Lainnya", "en": "Other"},
}

SEVERITY_LABELS: Final[dict[int, dict[Lang, str]]] = {
    1: {"id": "1 Rutin", "en": "1 Routine"},
    2: {"id": "2 Rendah", "en": "2 Low"},
    3: {"id": "3 Sedang", "en": "3 Moderate"},
    4: {"id": "4 Tinggi", "en": "4 High"},
    5: {"id": "5 Kritis", "en": "5 Critical"},
}

ALERT_STATE_LABELS: Final[dict[AlertState, dict[Lang, str]]] = {
    AlertState.FIRING: {"id": "Aktif", "en": "Firing"},
    AlertState.ACKNOWLEDGED: {"id": "Ditangani", "en": "Acknowledged"},
    AlertState.RESOLVED: {"id": "Selesai", "en": "Resolved"},
}

ALERT_TIER_LABELS: Final[dict[AlertTier, dict[Lang, str]]] = {
    AlertTier.WARNING: {"id": "Peringatan", "en": "Warning"},
    AlertTier.CRITICAL: {"id": "Kritis", "en": "Critical"},
}

_MONTHS: Final[dict[Lang, tuple[str, ...]]] = {
    "id": (
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}


def format_date(day: date, lang: Lang) -> str:
    """``27 November 2024``, ``1 Mei 2024`` (day month year in both languages)."""
    return f"{day.day} {_MONTHS[lang][day.month - 1]} {day.year}"


def format_clock(at: datetime, lang: Lang) -> str:
    """Time of day: ``23.30`` in Indonesian (the KBBI/PUEBI form), ``23:30`` in English."""
    return at.strftime("%H.%M" if lang == "id" else "%H:%M")


def format_count(value: int, lang: Lang) -> str:
    """Whole numbers with thousands grouped: ``1.234`` in Indonesian, ``1,234`` in English."""
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if lang == "id" else grouped


def message(code: str, lang: Lang, **params: Any) -> str:
    texts = MESSAGES.get(code)
    if texts is None:
        return code
    try:
        return texts[lang].format(**params)
    except (KeyError, IndexError, ValueError):
        return texts[lang]


def level_name(level: str, lang: Lang) -> str:
    return _LEVEL_NAMES.get(level, {"id": level, "en": level})[lang]


def pick_language(requested: str | None, accept_language: str | None, default: Lang) -> Lang:
    """``?lang=`` wins; else the first supported language in Accept-Language; else default."""
    if requested:
        lowered = requested.strip().lower()[:2]
        return "en" if lowered == "en" else "id" if lowered == "id" else default
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return "en" if tag == "en" else "id"
    return default
