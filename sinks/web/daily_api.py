"""Daily situation report: ``GET /v1/sitrep/daily?date=YYYY-MM-DD&format=json|md|pdf``."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

from sinks.i18n import message
from sinks.report.daily import DailyReport, fetch_daily_report, parse_day
from sinks.report.pdf import render_pdf
from sinks.report.render import render_markdown
from sinks.search.service import SearchService
from sinks.web.auth import require
from sinks.web.errors import ApiProblem, request_language
from sinks.web.operators import OperatorRole
from sitrep.settings import Settings

router = APIRouter(
    prefix="/v1", tags=["report"], dependencies=[Depends(require(OperatorRole.ANALYST))]
)


class DailyFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "md"
    PDF = "pdf"


@router.get(
    "/sitrep/daily",
    summary="Daily situation report of one local calendar day",
    response_model=DailyReport,
    responses={
        200: {
            "content": {
                "text/markdown": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            }
        },
        422: {"description": "invalid date or format"},
    },
)
def daily_report(
    request: Request,
    date: Annotated[
        str | None,
        Query(description="YYYY-MM-DD, 00:00–24:00 local time (default: today, local time)"),
    ] = None,
    format: Annotated[str, Query(description="json (default), md or pdf")] = "json",
    lang: Annotated[str | None, Query(description="id (default) or en; md and pdf")] = None,
) -> DailyReport | Response:
    """Counts per regency and category, level changes, alerts and how they were handled, and
    the most severe incidents of the day. JSON is the same in every language."""
    settings: Settings = request.app.state.settings
    language = request_language(request)
    try:
        wanted = DailyFormat(format.lower())
    except ValueError:
        allowed = ", ".join(f.value for f in DailyFormat)
        detail = message("unknown_value", language, value=format, allowed=allowed)
        raise ApiProblem(422, "invalid_parameter", name="format", detail=detail) from None
    try:
        day = parse_day(date, ZoneInfo(settings.timezone), datetime.now(UTC))
    except ValueError:
        raise ApiProblem(422, "report_date_invalid", value=date) from None
    search: SearchService = request.app.state.search
    report = fetch_daily_report(request.app.state.es, settings, search.registry, day)
    if wanted is DailyFormat.MARKDOWN:
        return Response(render_markdown(report, language), media_type="text/markdown")
    if wanted is DailyFormat.PDF:
        return Response(
            render_pdf(report, language),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="sitrep-{day.isoformat()}.pdf"'},
        )
    return report
