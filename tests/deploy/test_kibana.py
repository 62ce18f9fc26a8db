"""deploy/kibana/sitrep.ndjson and `sitrep kibana import`.

The saved objects are checked against the code: data views read the index names IndexNames builds
from the settings' prefix, and every field a data view, visualization, map or saved search uses
exists, with a fitting type, in the index template mappings of sinks/es/templates.py.

Kibana itself cannot run here, so the import command talks to a small HTTP server that keeps
Kibana's import contract: POST [/s/<space>]/api/saved_objects/_import, multipart field `file`
(.ndjson), the kbn-xsrf header, authentication, `overwrite`, and 200 with success false and
per-object errors for objects it cannot import.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from sinks.es.names import Family, IndexNames
from sinks.es.templates import mappings_for
from sinks.kibana.saved_objects import DEFAULT_PREFIX, dumps, load, parse_ndjson, with_prefix
from sitrep.cli import main
from sitrep.ports import free_port
from sitrep.settings import PROJECT_ROOT, load_settings

NDJSON = PROJECT_ROOT / "deploy" / "kibana" / "sitrep.ndjson"
SITREP = str(Path(sys.executable).with_name("sitrep"))

# Saved object types this file may hold, and what an 8.19 Kibana imports.
KIBANA_TYPES = {"index-pattern", "lens", "map", "search", "dashboard", "visualization"}
VERSION = re.compile(r"^\d+\.\d+\.\d+$")
# Attributes Kibana keeps as JSON text.
JSON_TEXT_ATTRIBUTES = {
    "fieldAttrs",
    "fieldFormatMap",
    "fields",
    "runtimeFieldMap",
    "sourceFilters",
    "typeMeta",
    "layerListJSON",
    "mapStateJSON",
    "uiStateJSON",
    "panelsJSON",
    "optionsJSON",
    "visState",
}

# --- the mappings, from the code that defines the templates ------------------------------------


def _flatten(properties: dict[str, Any], parent: str = "") -> dict[str, str]:
    """Field path -> Elasticsearch type, multi-fields (``name.raw``) included."""
    fields: dict[str, str] = {}
    for name, spec in properties.items():
        path = f"{parent}{name}"
        if "properties" in spec:
            fields.update(_flatten(spec["properties"], path + "."))
            continue
        fields[path] = spec["type"]
        for sub, sub_spec in spec.get("fields", {}).items():
            fields[f"{path}.{sub}"] = sub_spec["type"]
    return fields


def _fields_by_pattern(prefix: str) -> dict[str, dict[str, str]]:
    names = IndexNames(prefix)
    return {names.base(family): _flatten(mappings_for(family)["properties"]) for family in Family}


DATE = {"date", "date_nanos"}
NUMBER = {"byte", "short", "integer", "long", "float", "double", "half_float", "scaled_float"}
AGGREGATABLE = {"keyword", "boolean", "geo_point"} | DATE | NUMBER


def _objects() -> list[dict[str, Any]]:
    return load(NDJSON)


def _by_id(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(item["type"], item["id"]): item for item in objects}


# --- what each object uses -------------------------------------------------------------------

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_KQL_FIELD = re.compile(r"([A-Za-z_][\w.]*)\s*(?::|>=|<=|>|<)")


def kql_fields(query: str) -> set[str]:
    """Field names a (simple) KQL query tests: ``kind : "incident" and severity >= 4``."""
    return set(_KQL_FIELD.findall(_QUOTED.sub('""', query)))


@dataclass
class Uses:
    """(data view id, field, what it must be) of one object."""

    fields: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, data_view: str, name: str, kind: str = "any") -> None:
        self.fields.append((data_view, name, kind))


def _reference(item: dict[str, Any], name: str) -> str:
    matches = [ref["id"] for ref in item["references"] if ref["name"] == name]
    assert len(matches) == 1, f"{item['type']}/{item['id']}: reference {name!r} not found"
    return matches[0]


_OPERATION_KIND = {
    "date_histogram": "date",
    "terms": "aggregatable",
    "max": "number",
    "min": "number",
    "sum": "number",
    "average": "number",
    "median": "number",
    "unique_count": "aggregatable",
    "last_value": "any",
}


def uses_of(item: dict[str, Any]) -> Uses:
    uses = Uses()
    attributes = item["attributes"]
    if item["type"] == "index-pattern":
        if "timeFieldName" in attributes:
            uses.add(item["id"], attributes["timeFieldName"], "date")
        for name in json.loads(attributes["fieldAttrs"]):
            uses.add(item["id"], name)
    elif item["type"] == "lens":
        state = attributes["state"]
        layers = state["datasourceStates"]["formBased"]["layers"]
        data_views = {
            layer: _reference(item, f"indexpattern-datasource-layer-{layer}") for layer in layers
        }
        for layer, spec in layers.items():
            data_view = data_views[layer]
            for column in spec["columns"].values():
                if column["sourceField"] != "___records___":
                    kind = _OPERATION_KIND.get(column["operationType"], "any")
                    uses.add(data_view, column["sourceField"], kind)
                if "sortField" in column.get("params", {}):
                    uses.add(data_view, column["params"]["sortField"], "date")
                for name in kql_fields(column.get("filter", {}).get("query", "")):
                    uses.add(data_view, name)
            for name in kql_fields(state["query"]["query"]):
                uses.add(data_view, name)
    elif item["type"] == "search":
        source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
        data_view = _reference(item, source["indexRefName"])
        for name in attributes["columns"]:
            uses.add(data_view, name)
        for name, _direction in attributes["sort"]:
            uses.add(data_view, name)
        for name in kql_fields(source["query"]["query"]):
            uses.add(data_view, name)
    elif item["type"] == "map":
        for layer in json.loads(attributes["layerListJSON"]):
            source = layer["sourceDescriptor"]
            if "indexPatternRefName" not in source:
                continue  # the base map
            data_view = _reference(item, source["indexPatternRefName"])
            uses.add(data_view, source["geoField"], "geo_point")
            for name in source.get("tooltipProperties", []):
                uses.add(data_view, name)
            if source.get("sortField"):
                uses.add(data_view, source["sortField"], "aggregatable")
            for style in layer["style"].get("properties", {}).values():
                field_spec = style.get("options", {}).get("field")
                if field_spec and field_spec.get("origin") == "source":
                    uses.add(data_view, field_spec["name"], "aggregatable")
    return uses


def _fits(es_type: str, kind: str) -> bool:
    return {
        "any": True,
        "date": es_type in DATE,
        "number": es_type in NUMBER,
        "aggregatable": es_type in AGGREGATABLE,
        "geo_point": es_type == "geo_point",
    }[kind]


# --- (a) the file --------------------------------------------------------------------------------


def test_every_line_is_a_saved_object_in_export_format() -> None:
    text = NDJSON.read_text(encoding="utf-8")
    assert text.endswith("\n")
    lines = text.splitlines()
    assert all(line.strip() for line in lines), "no blank lines"
    for number, line in enumerate(lines, start=1):
        item = json.loads(line)
        where = f"line {number} ({item.get('type')}/{item.get('id')})"
        assert item["type"] in KIBANA_TYPES, where
        assert isinstance(item["id"], str) and item["id"], where
        assert isinstance(item["attributes"], dict), where
        assert isinstance(item["references"], list), where
        assert VERSION.match(item["coreMigrationVersion"]), where
        assert VERSION.match(item["typeMigrationVersion"]), where
        assert "migrationVersion" not in item, f"{where}: 7.x field next to typeMigrationVersion"
        for name, value in item["attributes"].items():
            if name in JSON_TEXT_ATTRIBUTES:
                json.loads(value)
        meta = item["attributes"].get("kibanaSavedObjectMeta", {})
        if "searchSourceJSON" in meta:
            json.loads(meta["searchSourceJSON"])
    assert len(parse_ndjson(text)) == len(lines)


def test_ids_are_unique_and_every_reference_resolves() -> None:
    objects = _objects()
    ids = [item["id"] for item in objects]
    assert len(ids) == len(set(ids)), "duplicate ids"
    known = set(_by_id(objects))
    for item in objects:
        names = [ref["name"] for ref in item["references"]]
        assert len(names) == len(set(names)), f"{item['id']}: duplicate reference names"
        for ref in item["references"]:
            assert (ref["type"], ref["id"]) in known, f"{item['id']} -> {ref['type']}/{ref['id']}"


def test_the_expected_objects_are_there() -> None:
    objects = _objects()
    kinds = [item["type"] for item in objects]
    assert kinds.count("index-pattern") == len(Family)
    dashboards = [item for item in objects if item["type"] == "dashboard"]
    assert [d["attributes"]["title"] for d in dashboards] == ["Situasi"]
    searches = [item for item in objects if item["type"] == "search"]
    assert [s["attributes"]["title"] for s in searches] == ["Laporan keparahan tinggi"]
    assert "map" in kinds
    for item in objects:
        title = item["attributes"].get("name") or item["attributes"]["title"]
        assert title.strip(), item["id"]
        assert item["id"].startswith(DEFAULT_PREFIX + "-"), "ids carry the prefix (--index-prefix)"


def test_internal_reference_names_match_the_references() -> None:
    """panelRefName, indexRefName, indexPatternRefName and Lens layers each name a reference."""
    for item in _objects():
        attributes = item["attributes"]
        names = {ref["name"] for ref in item["references"]}
        used: set[str] = set()
        if item["type"] == "dashboard":
            panels = json.loads(attributes["panelsJSON"])
            indexes = [panel["panelIndex"] for panel in panels]
            assert len(indexes) == len(set(indexes))
            for panel in panels:
                assert panel["panelRefName"] == f"panel_{panel['panelIndex']}"
                assert panel["gridData"]["i"] == panel["panelIndex"]
                assert panel["gridData"]["x"] + panel["gridData"]["w"] <= 48
                used.add(f"{panel['panelIndex']}:{panel['panelRefName']}")
            by_name = {ref["name"]: ref for ref in item["references"]}
            for panel in panels:
                ref = by_name[f"{panel['panelIndex']}:{panel['panelRefName']}"]
                assert ref["type"] == panel["type"]
        elif item["type"] == "lens":
            state = attributes["state"]
            for layer, spec in state["datasourceStates"]["formBased"]["layers"].items():
                used.add(f"indexpattern-datasource-layer-{layer}")
                assert sorted(spec["columnOrder"]) == sorted(spec["columns"])
                for column in spec["columns"].values():
                    order = column.get("params", {}).get("orderBy", {})
                    if order.get("type") == "column":
                        assert order["columnId"] in spec["columns"]
            visualization = json.dumps(state["visualization"])
            columns = {
                c
                for spec in state["datasourceStates"]["formBased"]["layers"].values()
                for c in spec["columns"]
            }
            for column in columns:
                assert f'"{column}"' in visualization, f"{item['id']}: column {column} not shown"
        elif item["type"] == "search":
            source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            used.add(source["indexRefName"])
        elif item["type"] == "map":
            for layer in json.loads(attributes["layerListJSON"]):
                if "indexPatternRefName" in layer["sourceDescriptor"]:
                    used.add(layer["sourceDescriptor"]["indexPatternRefName"])
        assert used == names, f"{item['type']}/{item['id']}: {used ^ names}"


def test_data_views_read_the_index_names_of_the_settings() -> None:
    prefix = load_settings().indexer.index_prefix
    names = IndexNames(prefix)
    objects = with_prefix(_objects(), prefix)
    patterns = sorted(i["attributes"]["title"] for i in objects if i["type"] == "index-pattern")
    assert patterns == sorted(names.base(family) for family in Family)
    # The file itself is written for the default prefix.
    default = sorted(i["attributes"]["title"] for i in _objects() if i["type"] == "index-pattern")
    assert default == sorted(IndexNames().base(family) for family in Family)


def test_every_field_used_exists_in_the_index_templates() -> None:
    fields = _fields_by_pattern(DEFAULT_PREFIX)
    objects = _objects()
    patterns = {i["id"]: i["attributes"]["title"] for i in objects if i["type"] == "index-pattern"}
    checked = 0
    for item in objects:
        for data_view, name, kind in uses_of(item).fields:
            mapping = fields[patterns[data_view]]
            where = f"{item['type']}/{item['id']} uses {name!r} of {patterns[data_view]}"
            assert name in mapping, f"{where}: not in the template mapping"
            assert _fits(mapping[name], kind), f"{where}: {mapping[name]}, needs {kind}"
            checked += 1
    assert checked > 40


def test_time_fields_are_the_event_times() -> None:
    time_fields = {
        item["attributes"]["title"]: item["attributes"].get("timeFieldName")
        for item in _objects()
        if item["type"] == "index-pattern"
    }
    names = IndexNames()
    assert time_fields == {
        names.reports: "occurred_at",
        names.status_history: "updated_at",
        names.alerts: "first_fired_at",
        # One document per area: a time filter would hide areas that have been quiet.
        names.status: None,
    }


def test_another_prefix_moves_patterns_ids_and_references() -> None:
    objects = with_prefix(_objects(), "kaltim2")
    names = IndexNames("kaltim2")
    patterns = sorted(i["attributes"]["title"] for i in objects if i["type"] == "index-pattern")
    assert patterns == sorted(names.base(family) for family in Family)
    known = set(_by_id(objects))
    for item in objects:
        assert item["id"].startswith("kaltim2-")
        for ref in item["references"]:
            assert (ref["type"], ref["id"]) in known
    dashboard = next(i for i in objects if i["type"] == "dashboard")
    assert dashboard["attributes"]["title"] == "Situasi [kaltim2]"
    assert with_prefix(_objects(), DEFAULT_PREFIX) == _objects()


# --- (b) a stand-in for Kibana's import API ------------------------------------------------------

SUPPORTED = {"index-pattern", "lens", "map", "search", "dashboard", "visualization", "config"}


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeKibana:
    """Kibana's saved objects import endpoint, with one user, one API key and two spaces."""

    username: str = "elastic"
    password: str = "rahasia"
    api_key: str = base64.b64encode(b"key-id:key-secret").decode()
    spaces: dict[str, dict[tuple[str, str], dict[str, Any]]] = field(
        default_factory=lambda: {"default": {}, "kaltim": {}}
    )
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def answer(self, request: Received) -> tuple[int, dict[str, Any]]:
        match = re.fullmatch(r"(?:/s/([a-z0-9_-]+))?/api/saved_objects/_import", request.path)
        if request.method != "POST" or match is None:
            return 404, {"statusCode": 404, "error": "Not Found", "message": "Not Found"}
        authorization = request.headers.get("authorization", "")
        basic = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if authorization not in (f"Basic {basic}", f"ApiKey {self.api_key}"):
            return 401, {
                "statusCode": 401,
                "error": "Unauthorized",
                "message": "[security_exception]: unable to authenticate user",
            }
        if "kbn-xsrf" not in request.headers:
            return 400, {
                "statusCode": 400,
                "error": "Bad Request",
                "message": "Request must contain a kbn-xsrf header.",
            }
        space = match.group(1) or "default"
        if space not in self.spaces:
            return 404, {
                "statusCode": 404,
                "error": "Not Found",
                "message": f"Saved object [space/{space}] not found",
            }
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            return 415, {"statusCode": 415, "error": "Unsupported Media Type", "message": ""}
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request.body
        )
        files = [
            p
            for p in message.iter_parts()
            if p.get_param("name", header="content-disposition") == "file"
        ]
        if len(files) != 1:
            return 400, {"statusCode": 400, "error": "Bad Request", "message": "[file]: required"}
        filename = files[0].get_filename() or ""
        if not filename.endswith(".ndjson"):
            return 400, {
                "statusCode": 400,
                "error": "Bad Request",
                "message": f"Invalid file extension {Path(filename).suffix}",
            }
        overwrite = request.query.get("overwrite", ["false"])[0] == "true"
        objects = parse_ndjson(files[0].get_payload(decode=True).decode("utf-8"))
        store = self.spaces[space]
        incoming = {(o["type"], o["id"]) for o in objects}
        results, errors = [], []
        for item in objects:
            key = (item["type"], item["id"])
            meta = {"title": item["attributes"].get("title", "")}
            error: dict[str, Any] | None = None
            if item["type"] not in SUPPORTED:
                error = {"type": "unsupported_type"}
            else:
                missing = [
                    {"type": r["type"], "id": r["id"]}
                    for r in item["references"]
                    if (r["type"], r["id"]) not in incoming and (r["type"], r["id"]) not in store
                ]
                if missing:
                    error = {"type": "missing_references", "references": missing}
                elif key in store and not overwrite:
                    error = {"type": "conflict"}
            if error is not None:
                errors.append(
                    {
                        "id": item["id"],
                        "type": item["type"],
                        "meta": meta,
                        "title": meta["title"],
                        "error": error,
                    }
                )
                continue
            result = {"id": item["id"], "type": item["type"], "meta": meta}
            if key in store:
                result["overwrite"] = True
            results.append(result)
        # Like Kibana, the objects without errors are imported even when others fail.
        failed = {(e["type"], e["id"]) for e in errors}
        for item in objects:
            if (item["type"], item["id"]) not in failed:
                store[(item["type"], item["id"])] = item
        body: dict[str, Any] = {
            "success": not errors,
            "successCount": len(results),
            "successResults": results,
            "warnings": [],
        }
        if errors:
            body["errors"] = errors
        return 200, body


@pytest.fixture
def kibana() -> Iterator[FakeKibana]:
    fake = FakeKibana()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self._handle()

        def do_GET(self) -> None:
            self._handle()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = Received(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )
            fake.requests.append(request)
            status, body = fake.answer(request)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


def _run(*args: str, **env: str) -> Result:
    clean = {name: None for name in os.environ if name.startswith("SITREP_KIBANA__")}
    return CliRunner().invoke(main, ["kibana", *args], env={**clean, **env})


def _uploaded(request: Received) -> tuple[str | None, str | None, bytes]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode() + request.body
    )
    (part,) = list(message.iter_parts())
    name = part.get_param("name", header="content-disposition")
    return name, part.get_filename(), part.get_payload(decode=True)


def test_import_sends_the_file_like_kibana_expects(kibana: FakeKibana) -> None:
    result = _run(
        "import",
        SITREP_KIBANA__URL=kibana.url,
        SITREP_KIBANA__USERNAME="elastic",
        SITREP_KIBANA__PASSWORD="rahasia",
        SITREP_INDEXER__INDEX_PREFIX="sitrep",
    )
    assert result.exit_code == 0, result.output
    (request,) = kibana.requests
    assert request.method == "POST"
    assert request.path == "/api/saved_objects/_import"
    assert request.query == {"overwrite": ["true"]}
    assert "kbn-xsrf" in request.headers
    expected = base64.b64encode(b"elastic:rahasia").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    name, filename, payload = _uploaded(request)
    assert (name, filename) == ("file", "sitrep.ndjson")
    assert payload == dumps(_objects())
    objects = _objects()
    assert f"imported {len(objects)} saved object(s)" in result.stdout
    assert "/app/dashboards#/view/sitrep-dashboard-situasi" in result.stdout
    assert len(kibana.spaces["default"]) == len(objects)

    again = _run(
        "import",
        SITREP_KIBANA__URL=kibana.url,
        SITREP_KIBANA__USERNAME="elastic",
        SITREP_KIBANA__PASSWORD="rahasia",
    )
    assert again.exit_code == 0, again.output
    assert kibana.requests[1].query == {"overwrite": ["true"]}


def test_import_into_a_space_with_an_api_key_and_another_prefix(kibana: FakeKibana) -> None:
    result = _run(
        "import",
        "--space",
        "kaltim",
        "--index-prefix",
        "kaltim2",
        SITREP_KIBANA__URL=kibana.url + "/",
        SITREP_KIBANA__API_KEY="key-id:key-secret",
        SITREP_KIBANA__USERNAME="ignored-when-an-api-key-is-set",
    )
    assert result.exit_code == 0, result.output
    (request,) = kibana.requests
    assert request.path == "/s/kaltim/api/saved_objects/_import"
    assert request.headers["authorization"] == f"ApiKey {kibana.api_key}"
    _name, _filename, payload = _uploaded(request)
    sent = parse_ndjson(payload.decode())
    patterns = sorted(i["attributes"]["title"] for i in sent if i["type"] == "index-pattern")
    assert patterns == sorted(IndexNames("kaltim2").base(family) for family in Family)
    assert all(key[1].startswith("kaltim2-") for key in kibana.spaces["kaltim"])
    assert kibana.spaces["default"] == {}
    assert "/s/kaltim/app/dashboards#/view/kaltim2-dashboard-situasi" in result.stdout


def test_rejected_objects_are_listed_and_the_exit_status_is_not_zero(
    kibana: FakeKibana, tmp_path: Path
) -> None:
    objects = _objects()
    lens = next(item for item in objects if item["type"] == "lens")
    lens["references"][0]["id"] = "no-such-data-view"
    objects.append(
        {
            "type": "canvas-workpad",
            "id": "sitrep-workpad",
            "attributes": {"title": "Papan"},
            "references": [],
            "coreMigrationVersion": "8.8.0",
            "typeMigrationVersion": "8.0.0",
        }
    )
    broken = tmp_path / "broken.ndjson"
    broken.write_bytes(dumps(objects))
    result = _run(
        "import",
        "--file",
        str(broken),
        SITREP_KIBANA__URL=kibana.url,
        SITREP_KIBANA__API_KEY=kibana.api_key,
    )
    assert result.exit_code == 1, result.output
    assert f"lens           {lens['id']}" in result.stderr
    assert "missing references: index-pattern/no-such-data-view" in result.stderr
    assert "sitrep-workpad" in result.stderr
    assert "unsupported type" in result.stderr
    assert f"rejected 2 saved object(s) in space 'default' ({len(objects) - 2} imported)" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    assert ("lens", lens["id"]) not in kibana.spaces["default"]


def test_wrong_credentials_are_a_clear_error(kibana: FakeKibana) -> None:
    result = _run(
        "import",
        SITREP_KIBANA__URL=kibana.url,
        SITREP_KIBANA__USERNAME="elastic",
        SITREP_KIBANA__PASSWORD="salah",
    )
    assert result.exit_code == 1
    assert "refused the credentials (401" in result.stderr
    assert "SITREP_KIBANA__API_KEY" in result.stderr
    assert "salah" not in result.output


def test_unknown_space_is_a_clear_error(kibana: FakeKibana) -> None:
    result = _run(
        "import",
        "--space",
        "jabar",
        SITREP_KIBANA__URL=kibana.url,
        SITREP_KIBANA__API_KEY=kibana.api_key,
    )
    assert result.exit_code == 1
    assert "does the space 'jabar' exist" in result.stderr


def test_connection_refused_is_a_clear_error_not_a_traceback() -> None:
    port = free_port()  # nobody listens on it
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_KIBANA__")}
    result = subprocess.run(
        [SITREP, "kibana", "import", "--url", f"http://127.0.0.1:{port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert f"cannot reach Kibana at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_render_writes_the_objects_for_a_prefix(tmp_path: Path) -> None:
    out = tmp_path / "ops.ndjson"
    result = _run("render", "--index-prefix", "ops", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert parse_ndjson(out.read_text()) == with_prefix(_objects(), "ops")
    bad = _run("render", "--index-prefix", "Ops Dua")
    assert bad.exit_code == 1
    assert "--index-prefix" in bad.stderr
