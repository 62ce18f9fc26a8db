"""Running searches against the report alias; Elasticsearch errors become two exceptions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import structlog
from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch, NotFoundError

from schemas.registry import AreaRegistry
from sinks.es.names import IndexNames
from sinks.search.build import SOURCE_EXCLUDES, build_query, search_body, sort_clause
from sinks.search.params import SearchRequest, encode_cursor
from sitrep.morphology import Stemmer

log = structlog.get_logger("sinks.search")

EXPORT_PAGE: Final = 1000
PIT_KEEP_ALIVE: Final = "2m"
MAX_INCIDENT_REPORTS: Final = 500


class SearchUnavailable(RuntimeError):
    """Elasticsearch did not answer (down, overloaded): a 503 for callers."""


class SearchFailed(RuntimeError):
    """Elasticsearch refused the request (should not happen for validated input): a 400."""


@dataclass(frozen=True)
class SearchPage:
    total: int
    hits: list[dict[str, Any]]
    next_cursor: str | None
    aggregations: dict[str, Any] = field(default_factory=dict)
    took_ms: int = 0


def call_elasticsearch(action: Callable[..., Any], **kwargs: Any) -> Any:
    """Run one client call; overload or no answer becomes SearchUnavailable, a refused request
    SearchFailed (a missing index stays NotFoundError for the caller to decide)."""
    try:
        return action(**kwargs)
    except NotFoundError:
        raise
    except ApiError as exc:
        if exc.meta.status in (429,) or exc.meta.status >= 500:
            raise SearchUnavailable(str(exc)) from exc
        log.warning("search refused by elasticsearch", error=str(exc)[:500])
        raise SearchFailed(_reason(exc)) from exc
    except TransportError as exc:
        raise SearchUnavailable(str(exc)) from exc


def _reason(exc: ApiError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", {})
    if isinstance(error, dict):
        causes = error.get("root_cause") or [error]
        return str(causes[0].get("reason", exc.message))[:300]
    return str(exc.message)


class SearchService:
    def __init__(
        self,
        es: Elasticsearch,
        names: IndexNames,
        registry: AreaRegistry,
        stemmer: Stemmer | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._es = es
        self._index = names.reports
        self.registry = registry
        self.stemmer = stemmer
        self._clock = clock

    def _search(self, **kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = call_elasticsearch(
            self._es.search,
            index=self._index,
            ignore_unavailable=True,
            allow_no_indices=True,
            **kwargs,
        ).body
        return response

    def search(self, request: SearchRequest) -> SearchPage:
        response = self._search(**search_body(request, self._clock(), self.stemmer))
        hits = response["hits"]["hits"]
        next_cursor = (
            encode_cursor(request.sort, hits[-1]["sort"])
            if hits and len(hits) == request.size
            else None
        )
        return SearchPage(
            total=response["hits"]["total"]["value"],
            hits=hits,
            next_cursor=next_cursor,
            aggregations=response.get("aggregations", {}),
            took_ms=response.get("took", 0),
        )

    def count(self, request: SearchRequest) -> int:
        response = call_elasticsearch(
            self._es.count,
            index=self._index,
            ignore_unavailable=True,
            allow_no_indices=True,
            query=build_query(request, self.stemmer),
        )
        return int(response["count"])

    def regency_names(self, codes: list[str]) -> dict[str, str]:
        return {code: area.name for code in codes if (area := self.registry.get(code))}

    def get_report(self, report_id: str) -> dict[str, Any] | None:
        response = self._search(
            query={"term": {"report_id": report_id}}, size=1, source_excludes=SOURCE_EXCLUDES
        )
        hits = response["hits"]["hits"]
        return hits[0]["_source"] if hits else None

    def incident_reports(self, incident_id: str) -> tuple[int, list[dict[str, Any]]]:
        """Every report of an incident (oldest first, up to 500) and how many there are."""
        response = self._search(
            query={"term": {"incident_id": incident_id}},
            sort=[{"occurred_at": "asc"}, {"report_id": "asc"}],
            size=MAX_INCIDENT_REPORTS,
            track_total_hits=True,
            source_excludes=SOURCE_EXCLUDES,
        )
        hits = response["hits"]["hits"]
        return response["hits"]["total"]["value"], [h["_source"] for h in hits]

    def iterate(self, request: SearchRequest, page: int = EXPORT_PAGE) -> Iterator[dict[str, Any]]:
        """Every hit of the search (no 10,000 limit): a point in time paged with search_after,
        so the export is one consistent snapshot. The point in time is closed at the end, also
        when the consumer stops early."""
        try:
            opened = call_elasticsearch(
                self._es.open_point_in_time, index=self._index, keep_alive=PIT_KEEP_ALIVE
            )
        except NotFoundError:
            return
        pit_id: str = opened["id"]
        query = build_query(request, self.stemmer)
        sort = sort_clause(request.sort)
        after: list[Any] | None = None
        try:
            while True:
                extra: dict[str, Any] = {"search_after": after} if after is not None else {}
                response = call_elasticsearch(
                    self._es.search,
                    pit={"id": pit_id, "keep_alive": PIT_KEEP_ALIVE},
                    query=query,
                    sort=sort,
                    size=page,
                    track_total_hits=False,
                    source_excludes=SOURCE_EXCLUDES,
                    **extra,
                )
                pit_id = response.get("pit_id", pit_id)
                hits = response["hits"]["hits"]
                for hit in hits:
                    yield hit["_source"]
                if len(hits) < page:
                    return
                after = hits[-1]["sort"]
        finally:
            try:
                self._es.close_point_in_time(id=pit_id)
            except (ApiError, TransportError) as exc:
                log.debug("point in time not closed (it expires by itself)", error=str(exc))
