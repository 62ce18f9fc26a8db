"""Problem responses in the caller's language: {"error": {"code", "message", ...}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sinks.i18n import Lang, level_name, message, pick_language
from sinks.search.params import InvalidParameter, InvalidQuery
from sinks.search.service import SearchFailed, SearchUnavailable


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, **params: Any) -> None:
        self.status = status
        self.code = code
        self.params = params
        # Response headers beside the problem body (e.g. Retry-After of a 429).
        self.headers: dict[str, str] = {}
        super().__init__(code)


def request_language(request: Request) -> Lang:
    settings = request.app.state.settings
    default: Lang = settings.web.language
    return pick_language(
        request.query_params.get("lang"), request.headers.get("accept-language"), default
    )


def _problem(status: int, code: str, text: str, **extra: Any) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": text, **extra}}
    )


def invalid_parameter_text(error: InvalidParameter, lang: Lang) -> str:
    params = dict(error.params)
    if "level" in params:
        params["level"] = level_name(str(params["level"]), lang)
    detail = message(error.code, lang, **params)
    return message("invalid_parameter", lang, name=error.name, detail=detail)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InvalidQuery)
    async def _invalid_query(request: Request, exc: InvalidQuery) -> JSONResponse:
        lang = request_language(request)
        error = exc.error
        return _problem(
            400,
            error.code,
            message(error.code, lang, **error.params),
            parameter="q",
            position=error.params.get("position"),
        )

    @app.exception_handler(InvalidParameter)
    async def _invalid_parameter(request: Request, exc: InvalidParameter) -> JSONResponse:
        lang = request_language(request)
        return _problem(400, exc.code, invalid_parameter_text(exc, lang), parameter=exc.name)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        lang = request_language(request)
        first = exc.errors()[0] if exc.errors() else {}
        name = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        text = message("invalid_parameter", lang, name=name, detail=first.get("msg", ""))
        return _problem(400, "invalid_parameter", text, parameter=name)

    @app.exception_handler(SearchUnavailable)
    async def _unavailable(request: Request, exc: SearchUnavailable) -> JSONResponse:
        lang = request_language(request)
        response = _problem(503, "search_unavailable", message("search_unavailable", lang))
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(SearchFailed)
    async def _failed(request: Request, exc: SearchFailed) -> JSONResponse:
        lang = request_language(request)
        return _problem(400, "search_failed", message("search_failed", lang, detail=str(exc)))

    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        lang = request_language(request)
        response = _problem(exc.status, exc.code, message(exc.code, lang, **exc.params))
        response.headers.update(exc.headers)
        return response
