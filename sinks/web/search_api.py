"""Analyst search: ``GET /v1/search``, ``/v1/search/export``, ``/v1/reports/{report_id}``.

Every route needs the ``analyst`` role; each export is recorded on the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from schemas.audit import AuditAction
from sinks.i18n import Lang
from sinks.search.export import ExportFormat, export_lines
from sinks.search.params import InvalidParameter, RawParams, SearchRequest, parse_search_request
from sinks.search.present import present_facets, present_highlight, present_report
from sinks.search.service import SearchService
from sinks.web.audit import record_audit
from sinks.web.auth import Caller, require
from sinks.web.errors import ApiProblem, request_language
from sinks.web.operators import OperatorRole

router = APIRouter(
    prefix="/v1", tags=["search"], dependencies=[Depends(require(OperatorRole.ANALYST))]
)

Multi = Annotated[list[str] | None, Query()]
Single = Annotated[str | None, Query()]


def search_service(request: Request) -> SearchService:
    service: SearchService = request.app.state.search
    return service


def raw_params(
    request: Request,
    q: Annotated[
        str | None,
        Query(
            description='words, "phrases", OR, -exclude, (groups), prefix*; '
            "Indonesian word forms match (bentrok finds bentrokan)"
        ),
    ] = None,
    regency: Annotated[
        list[str] | None, Query(description="regency/city code or name, e.g. 64.71")
    ] = None,
    kecamatan: Annotated[list[str] | None, Query(description="kecamatan code or name")] = None,
    village: Annotated[list[str] | None, Query(description="village code or name")] = None,
    category: Multi = None,
    kind: Multi = None,
    phase: Multi = None,
    source: Multi = None,
    unit: Annotated[
        list[str] | None, Query(description="reporter unit, case-insensitive exact name")
    ] = None,
    incident_id: Multi = None,
    severity_min: Single = None,
    severity_max: Single = None,
    from_: Annotated[
        str | None,
        Query(alias="from", description="2024-02-14, 2024-02-14T09:30 (local) or with offset"),
    ] = None,
    to: Annotated[str | None, Query(description="exclusive; a bare date includes that day")] = None,
    tz: Annotated[str | None, Query(description="WITA (default), WIB, WIT, UTC or IANA")] = None,
    sort: Annotated[str | None, Query(description="relevance, newest, oldest, severity")] = None,
    size: Single = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    facets: Single = None,
    interval: Annotated[str | None, Query(description="auto, hour, day, week, month")] = None,
    lang: Annotated[str | None, Query(description="id (default) or en")] = None,
) -> RawParams:
    """Every parameter is read as text and validated by the shared parser (same rules as the
    CLI); declaring them here documents them in the OpenAPI page."""
    params = request.query_params
    return {key: params.getlist(key) for key in params}


def parsed_request(
    request: Request,
    raw: Annotated[RawParams, Depends(raw_params)],
    service: Annotated[SearchService, Depends(search_service)],
) -> SearchRequest:
    settings = request.app.state.settings
    return parse_search_request(
        raw,
        service.registry,
        default_timezone=settings.timezone,
        max_size=settings.web.max_page_size,
        stemmer=service.stemmer,
    )


# The reports feed is for viewers too (the wall screen's "latest reports"): newest first, a
# few filters, no free text, no facets, no export.
feed_router = APIRouter(
    prefix="/v1", tags=["search"], dependencies=[Depends(require(OperatorRole.VIEWER))]
)
FEED_PARAMETERS = ("regency", "kecamatan", "category", "severity_min", "size", "cursor", "tz")


@feed_router.get("/feed", summary="Latest reports, newest first (viewer)")
def feed(
    request: Request,
    service: Annotated[SearchService, Depends(search_service)],
    regency: Multi = None,
    kecamatan: Multi = None,
    category: Multi = None,
    severity_min: Single = None,
    size: Single = None,
    cursor: Single = None,
    tz: Single = None,
    lang: Single = None,
) -> dict[str, Any]:
    params = request.query_params
    raw: RawParams = {key: params.getlist(key) for key in FEED_PARAMETERS if key in params}
    feed_request = parsed_request(request, {**raw, "sort": ["newest"]}, service)
    page = service.search(feed_request)
    lang_: Lang = request_language(request)
    return {
        "total": page.total,
        "timezone": feed_request.timezone.key,
        "hits": [present_report(hit["_source"], feed_request.timezone, lang_) for hit in page.hits],
        "next_cursor": page.next_cursor,
    }


@router.get("/search", summary="Search reports")
def search(
    request: Request,
    search_request: Annotated[SearchRequest, Depends(parsed_request)],
    service: Annotated[SearchService, Depends(search_service)],
) -> dict[str, Any]:
    lang: Lang = request_language(request)
    page = service.search(search_request)
    zone = search_request.timezone
    terms = search_request.query.terms
    hits = [
        present_report(
            hit["_source"],
            zone,
            lang,
            highlight=present_highlight(hit, terms, service.stemmer),
            score=hit.get("_score"),
        )
        for hit in page.hits
    ]
    result: dict[str, Any] = {
        "total": page.total,
        "size": search_request.size,
        "sort": search_request.sort.value,
        "timezone": zone.key,
        "took_ms": page.took_ms,
        "hits": hits,
        "next_cursor": page.next_cursor,
    }
    if search_request.facets:
        codes = [b["key"] for b in page.aggregations.get("regency", {}).get("buckets", [])]
        result["facets"] = present_facets(
            page.aggregations, zone, lang, service.regency_names(codes)
        )
    return result


@router.get("/search/export", summary="Export every hit of a search as CSV or JSON Lines")
def export(
    request: Request,
    caller: Annotated[Caller, Depends(require(OperatorRole.ANALYST))],
    search_request: Annotated[SearchRequest, Depends(parsed_request)],
    service: Annotated[SearchService, Depends(search_service)],
    format: Annotated[str, Query(description="csv or jsonl")] = "csv",
) -> StreamingResponse:
    try:
        fmt = ExportFormat(format.lower())
    except ValueError:
        allowed = ", ".join(f.value for f in ExportFormat)
        raise InvalidParameter("format", "unknown_value", value=format, allowed=allowed) from None
    plain = replace(search_request, cursor=None, facets=False)
    total = service.count(plain)
    # Recorded before the first row leaves: an export that cannot be recorded does not happen.
    record_audit(
        request, caller, AuditAction.EXPORT, request.url.query, f"{fmt.value}, {total} rows"
    )
    rows: Iterator[str] = export_lines(service.iterate(plain), fmt, plain.timezone)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        rows,
        media_type=fmt.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="sitrep-reports-{stamp}.{fmt.value}"',
            # Counted just before the export's snapshot; reports indexed in between can differ.
            "X-Total-Count": str(total),
        },
    )


@router.get("/reports/{report_id}", summary="One report with the other reports of its incident")
def report(
    request: Request,
    report_id: Annotated[str, Path(max_length=128)],
    service: Annotated[SearchService, Depends(search_service)],
    tz: Single = None,
) -> dict[str, Any]:
    from sinks.search.params import resolve_timezone

    lang = request_language(request)
    zone = resolve_timezone(tz, request.app.state.settings.timezone)
    source = service.get_report(report_id)
    if source is None:
        raise ApiProblem(404, "report_not_found", report_id=report_id)
    incident_id = source.get("incident_id") or report_id
    count, others = service.incident_reports(incident_id)
    return {
        "report": present_report(source, zone, lang),
        "incident": {
            "incident_id": incident_id,
            "report_count": count,
            "reports": [
                present_report(other, zone, lang)
                for other in others
                if other.get("report_id") != report_id
            ],
        },
        "timezone": zone.key,
    }
