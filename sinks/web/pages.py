"""The analyst pages of the control room: search, reports feed and daily report.

Plain HTML, JavaScript and CSS from ``static/`` (no build step, no external network at run
time); the pages read the search and daily-report APIs. ``GET /pages/labels.json`` gives them
the labels of the wire codes in both languages from the same catalogue as the API
(``sinks.i18n``), so the pages never carry a second copy that could drift.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse, JSONResponse

from schemas.status import StatusLevel
from sinks.i18n import (
    ALERT_STATE_LABELS,
    ALERT_TIER_LABELS,
    CATEGORY_LABELS,
    KIND_LABELS,
    LANGUAGES,
    PHASE_LABELS,
    ROLE_LABELS,
    SEVERITY_LABELS,
    SOURCE_LABELS,
    STATE_LABELS,
    Lang,
)
from sinks.web.auth import require
from sinks.web.board import STATIC_DIR
from sinks.web.operators import OperatorRole

router = APIRouter(include_in_schema=False)

NO_CACHE = {"Cache-Control": "no-cache"}


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC_DIR / f"{name}.html", headers=NO_CACHE)


@router.get("/search", dependencies=[Depends(require(OperatorRole.ANALYST))])
def search_page() -> FileResponse:
    return _page("search")


@router.get("/feed", dependencies=[Depends(require(OperatorRole.VIEWER))])
def feed_page() -> FileResponse:
    return _page("feed")


@router.get("/daily", dependencies=[Depends(require(OperatorRole.ANALYST))])
def daily_page() -> FileResponse:
    return _page("daily")


def _table(labels: dict[Any, dict[Lang, str]]) -> dict[str, dict[str, str]]:
    return {
        str(key.value if isinstance(key, StrEnum) else key): {
            str(lang): text for lang, text in names.items()
        }
        for key, names in labels.items()
    }


def page_labels() -> dict[str, dict[str, dict[str, str]]]:
    """Code -> {"id": ..., "en": ...} per kind of code the pages show."""
    return {
        "category": _table(CATEGORY_LABELS),
        "kind": _table(KIND_LABELS),
        "phase": _table(PHASE_LABELS),
        "source": _table(SOURCE_LABELS),
        "role": _table(ROLE_LABELS),
        "severity": _table(SEVERITY_LABELS),
        "incident_state": _table(STATE_LABELS),
        "alert_state": _table(ALERT_STATE_LABELS),
        "alert_tier": _table(ALERT_TIER_LABELS),
        # The level names are the operation's own terms; English readers get the gloss.
        "level": {
            level.value: {
                lang: level.value if lang == "id" else f"{level.value} ({level.description_en})"
                for lang in LANGUAGES
            }
            for level in StatusLevel
        },
    }


@router.get("/pages/labels.json", dependencies=[Depends(require(OperatorRole.VIEWER))])
def labels() -> JSONResponse:
    return JSONResponse(page_labels(), headers=NO_CACHE)
