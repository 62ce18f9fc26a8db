"""docs/operations.md and deploy/prometheus/alerts.yaml against the code.

* Every `sitrep ...` command line quoted on the page (in code blocks and inline code) must name
  a real subcommand path of ``sitrep.cli.main`` with real options and arguments: each line is
  parsed by click itself (``make_context`` of the leaf command), so unknown commands and
  options, bad values and choices and surplus arguments fail. A line of a code block must also
  be complete (every required option and argument); inline code may name a command in prose
  without them (`sitrep intake token revoke`).
* Every ``SITREP_...`` variable on the page must be a real setting (or a secret variable the
  notifier's channels file names), and the settings object must build with it set.
* ``deploy/prometheus/alerts.yaml`` must have the structure of a Prometheus rule file and use
  only series the roles expose (metrics classes instantiated with fresh registries), with
  their label names; every alert links to a runbook heading of the page.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from sitrep.settings import PROJECT_ROOT, Settings

DOC = PROJECT_ROOT / "docs" / "operations.md"
RULES = PROJECT_ROOT / "deploy" / "prometheus" / "alerts.yaml"
CHANNELS = PROJECT_ROOT / "deploy" / "notify" / "channels.yaml"


# --- command lines -------------------------------------------------------------------------------

_FENCE = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`([^`\n]+)`")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SEPARATORS = {"|", "||", "&&", ";", "&"}
_REDIRECTS = {"<", ">", ">>", "<<", "<&", ">&"}


def logical_lines(block: str) -> Iterator[str]:
    """Shell lines of a code block: backslash-newline joins lines, newlines inside quotes stay."""
    line: list[str] = []
    quote: str | None = None
    index = 0
    while index < len(block):
        char = block[index]
        if char == "\\" and quote != "'" and block[index + 1 : index + 2] == "\n":
            line.append(" ")
            index += 2
            continue
        if char == "\\" and quote != "'":
            line.append(block[index : index + 2])
            index += 2
            continue
        if quote is None and char in "'\"":
            quote = char
        elif quote == char:
            quote = None
        if char == "\n" and quote is None:
            yield "".join(line)
            line = []
        else:
            line.append(char)
        index += 1
    if line:
        yield "".join(line)


def shell_commands(line: str) -> Iterator[list[str]]:
    """The simple commands of one shell line, as argument lists without env assignments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    current: list[str] = []
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in _SEPARATORS:
            yield current
            current = []
        elif token in _REDIRECTS:
            skip_next = True
        else:
            current.append(token)
    yield current


def sitrep_argv(tokens: list[str]) -> list[str] | None:
    """The arguments after `sitrep` when ``tokens`` runs sitrep (env assignments allowed)."""
    while tokens and _ASSIGNMENT.match(tokens[0]):
        tokens = tokens[1:]
    if tokens and (tokens[0] == "sitrep" or tokens[0].endswith("/sitrep")):
        return tokens[1:]
    return None


@dataclass(frozen=True)
class Quoted:
    line: str  # as the page has it
    argv: list[str]  # after `sitrep`
    complete: bool  # a line of a code block (inline code may leave required parameters out)


def quoted_commands(text: str) -> list[Quoted]:
    """Every sitrep command line of a page: code blocks first, then inline code."""
    found: list[Quoted] = []
    for block in _FENCE.findall(text):
        for line in logical_lines(block):
            for tokens in shell_commands(line):
                argv = sitrep_argv(tokens)
                if argv is not None:
                    found.append(Quoted(line.strip(), argv, complete=True))
    prose = _FENCE.sub("", text)
    for span in _INLINE.findall(prose):
        try:
            commands = list(shell_commands(span))
        except ValueError:  # unbalanced quotes: not a command line
            continue
        for tokens in commands:
            argv = sitrep_argv(tokens)
            if argv is not None:
                found.append(Quoted(span, argv, complete=False))
    return found


def check_command(argv: list[str], *, complete: bool = True) -> str:
    """Parse ``sitrep ARGV`` with click down to its leaf command; the path it named.

    Raises click.UsageError (unknown command, option, choice, missing or surplus argument).
    With ``complete=False`` a missing required parameter is accepted, and the options and
    arguments given are still checked.
    """
    from sitrep.cli import main

    command: click.Command = main
    path = ["sitrep"]
    parent: click.Context | None = None
    args = list(argv)
    while isinstance(command, click.Group):
        context = click.Context(command, info_name=path[-1], parent=parent)
        # A group's own options; what is left starts with the subcommand (interspersed
        # arguments are off for groups, so nothing of the subcommand is consumed).
        rest = click.Command.parse_args(command, context, list(args)) if args else []
        if not rest:
            if complete and not command.invoke_without_command:
                raise click.UsageError(f"{' '.join(path)} needs a subcommand", context)
            return " ".join(path)
        name, args = rest[0], rest[1:]
        sub = command.get_command(context, name)
        if sub is None:
            raise click.UsageError(f"no command {name!r} in {' '.join(path)}")
        command, parent = sub, context
        path.append(name)
    with _required_relaxed(command, relaxed=not complete):
        command.make_context(path[-1], args, parent=parent)
    return " ".join(path)


@contextlib.contextmanager
def _required_relaxed(command: click.Command, *, relaxed: bool) -> Iterator[None]:
    """For a mention in prose: required parameters may be left out (an argument of one value
    still takes one at most, so surplus arguments are still refused)."""
    required = [param for param in command.params if param.required] if relaxed else []
    for param in required:
        param.required = False
    try:
        yield
    finally:
        for param in required:
            param.required = True


def test_the_page_quotes_many_sitrep_command_lines() -> None:
    commands = quoted_commands(DOC.read_text(encoding="utf-8"))
    assert len(commands) >= 60, len(commands)
    assert sum(q.complete for q in commands) >= 15
    paths = {check_command(q.argv, complete=q.complete) for q in commands}
    # The operations the guide is about are all there.
    for needed in (
        "sitrep topics ensure",
        "sitrep es setup",
        "sitrep es prune",
        "sitrep replay",
        "sitrep index",
        "sitrep operators add",
        "sitrep operators revoke",
        "sitrep users add",
        "sitrep intake token add",
        "sitrep intake token revoke",
        "sitrep alerts silence add",
        "sitrep notify check",
        "sitrep chaos",
    ):
        assert needed in paths, needed


@pytest.mark.parametrize(
    "quoted",
    [pytest.param(q, id=q.line[:80]) for q in quoted_commands(DOC.read_text(encoding="utf-8"))],
)
def test_each_quoted_command_line_parses(quoted: Quoted) -> None:
    try:
        check_command(quoted.argv, complete=quoted.complete)
    except click.ClickException as exc:
        pytest.fail(f"`{quoted.line}` does not parse: {exc.format_message()}")


@pytest.mark.parametrize(
    "line",
    [
        "sitrep no-such-command",
        "sitrep es no-such-subcommand",
        "sitrep es",  # a group alone, in a code block
        "sitrep replay --no-such-option",
        "sitrep replay",  # --from is required
        "sitrep users add budi --role general",  # not a role
        "sitrep operators revoke",  # TOKEN_ID missing
        "sitrep es prune 400d",  # surplus argument
        "sitrep index --metrics-port many",  # not a number
    ],
)
def test_the_command_check_refuses_what_does_not_exist(line: str) -> None:
    [quoted] = quoted_commands(f"```sh\n{line}\n```\n")
    with pytest.raises(click.UsageError):
        check_command(quoted.argv)


@pytest.mark.parametrize(
    ("span", "ok"),
    [
        ("sitrep intake token revoke", True),  # prose: names the command
        ("sitrep users add", True),
        ("sitrep users add budi --role general", False),  # still a bad choice
        ("sitrep operators revoke op-1 op-2", False),  # one TOKEN_ID at most
        ("sitrep es prune --no-such-option", False),
    ],
)
def test_inline_mentions_may_leave_out_required_parameters_only(span: str, ok: bool) -> None:
    [quoted] = quoted_commands(f"Run `{span}` now.\n")
    assert not quoted.complete
    if ok:
        check_command(quoted.argv, complete=False)
    else:
        with pytest.raises(click.UsageError):
            check_command(quoted.argv, complete=False)


def test_command_lines_are_found_in_pipes_continuations_and_inline_code() -> None:
    text = (
        "Run `sitrep worker` or `SITREP_X=1 sitrep index`, not `sitrep.reports`.\n"
        "```sh\n"
        "A=1 sitrep es prune \\\n    --older-than 400d   # dry run\n"
        "cat x.jsonl | sitrep produce --receipts r.jsonl && sitrep topics ensure\n"
        "curl -d '{\"a\":\n 1}' http://x\n"
        "```\n"
    )
    assert [q.argv for q in quoted_commands(text)] == [
        ["es", "prune", "--older-than", "400d"],
        ["produce", "--receipts", "r.jsonl"],
        ["topics", "ensure"],
        ["worker"],
        ["index"],
    ]


# --- SITREP_ variables ---------------------------------------------------------------------------

_VARIABLE = re.compile(r"\bSITREP_[A-Z0-9_]*")
_ASSIGNED = re.compile(r"\b(SITREP_[A-Z0-9_]+)=(\"[^\"]*\"|'[^']*'|[^\s`|;&]+)")


@dataclass(frozen=True)
class Mention:
    name: str
    prefix: bool  # written as SITREP_X__* (a section), not a single setting


def mentions(text: str) -> set[Mention]:
    found = set()
    for match in _VARIABLE.finditer(text):
        # SITREP_KAFKA__* or a bare SITREP_: a section, not a single setting
        prefix = text[match.end() : match.end() + 1] == "*" or match.group(0).endswith("_")
        name = match.group(0).rstrip("_") if prefix else match.group(0)
        found.add(Mention(name, prefix))
    return found


def assigned_values(text: str) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}
    for name, raw in _ASSIGNED.findall(text):
        values.setdefault(name, set()).add(shlex.split(raw)[0] if raw[0] in "'\"" else raw)
    return values


def channel_secret_variables() -> set[str]:
    channels = yaml.safe_load(CHANNELS.read_text(encoding="utf-8"))["channels"]
    return {
        value
        for channel in channels.values()
        for key, value in channel.items()
        if key.endswith("_env")
    }


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def resolve(name: str) -> tuple[list[str], FieldInfo | None]:
    """Field path of a SITREP_ variable and its field (None for a section); KeyError if none."""
    rest = name.removeprefix("SITREP").removeprefix("_")
    parts = [part.lower() for part in rest.split("__")] if rest else []
    model: type[BaseModel] | None = Settings
    field: FieldInfo | None = None
    for part in parts:
        if model is None or part not in model.model_fields:
            raise KeyError(name)
        field = model.model_fields[part]
        model = _model_of(field.annotation)
    return parts, (None if model is not None else field)


def _types_of(annotation: Any) -> tuple[Any, ...]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return tuple(a for a in typing.get_args(annotation) if a is not type(None))
    return (annotation,)


def sample_value(field: FieldInfo) -> str:
    """A valid value for a setting the page names without giving one."""
    default = field.get_default(call_default_factory=True)
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, tuple | list):
        return json.dumps(list(default))
    if isinstance(default, SecretStr):
        return default.get_secret_value()
    if default is not None:
        return str(default)
    kinds = _types_of(field.annotation)
    if Path in kinds:
        return "/tmp/sitrep-operations-doc"
    if typing.get_origin(kinds[0]) is typing.Literal:
        return str(typing.get_args(kinds[0])[0])
    if int in kinds:
        return "1"
    return "PLAIN" if SecretStr not in kinds else "a-secret"


def build_settings(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> Settings:
    for variable in [v for v in os.environ if v.startswith("SITREP_")]:
        monkeypatch.delenv(variable)
    monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def _value_at(settings: Settings, path: list[str]) -> Any:
    value: Any = settings
    for part in path:
        value = getattr(value, part)
    return value


def _same(built: Any, raw: str) -> bool:
    if isinstance(built, SecretStr):
        return built.get_secret_value() == raw
    if isinstance(built, bool):
        return str(built).lower() == raw.lower()
    if isinstance(built, int | float):
        return float(raw) == built
    if isinstance(built, str | Path):
        return str(built) == raw
    return True  # tuples and the like: that it built is the check


def test_the_page_names_settings_and_channel_secrets() -> None:
    text = DOC.read_text(encoding="utf-8")
    names = {m.name for m in mentions(text)}
    assert len(names) >= 40, sorted(names)
    assert channel_secret_variables() & names  # the webhook/bot/SMTP secrets are covered


def _variable_cases() -> list[Any]:
    text = DOC.read_text(encoding="utf-8")
    secrets = channel_secret_variables()
    values = assigned_values(text)
    cases = []
    for mention in sorted(mentions(text), key=lambda m: (m.name, m.prefix)):
        if mention.name in secrets:
            continue
        for value in sorted(values.get(mention.name, {""})):
            cases.append(pytest.param(mention, value, id=f"{mention.name}={value}"))
    return cases


@pytest.mark.parametrize(("mention", "value"), _variable_cases())
def test_each_variable_is_a_setting_that_parses(
    mention: Mention, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        path, field = resolve(mention.name)
    except KeyError:
        pytest.fail(f"{mention.name} is neither a setting nor a secret the channels file names")
    if mention.prefix:
        assert field is None, f"{mention.name}* is written as a section but is a single setting"
        return
    assert field is not None, f"{mention.name} is a section, not a setting"
    raw = value or sample_value(field)
    settings = build_settings(monkeypatch, mention.name, raw)
    built = _value_at(settings, path)
    assert _same(built, raw), f"{mention.name}={raw} built {built!r}"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SITREP_KAFKA__NO_SUCH_SETTING", "1"),
        ("SITREP_NO_SUCH_SECTION__PORT", "1"),
        ("SITREP_WORKER__APPID", "x"),
    ],
)
def test_the_variable_check_refuses_unknown_names(name: str, value: str) -> None:
    with pytest.raises(KeyError):
        resolve(name)


def test_the_variable_check_refuses_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        build_settings(monkeypatch, "SITREP_KAFKA__PARTITIONS", "many")
    path, field = resolve("SITREP_KAFKA__PARTITIONS")
    assert field is not None
    assert _value_at(build_settings(monkeypatch, "SITREP_KAFKA__PARTITIONS", "24"), path) == 24


# --- Prometheus rules ----------------------------------------------------------------------------

SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
}
# Series Prometheus adds itself for every target, with the target's labels.
SCRAPE_SERIES: dict[str, frozenset[str]] = {"up": frozenset()}
TARGET_LABELS = frozenset({"job", "instance"})


def exposed_series() -> dict[str, frozenset[str]]:
    """Every series name the roles expose -> its label names (``le`` for buckets)."""
    from producers.intake.app import IntakeMetrics
    from sinks.indexer.metrics import IndexerMetrics
    from sinks.notify.metrics import NotifyMetrics
    from sinks.web.app import WebMetrics
    from streams.alerting import AlertMetrics
    from streams.metrics import WorkerMetrics

    worker = WorkerMetrics()
    holders = [
        IntakeMetrics(),
        worker,
        AlertMetrics(worker.registry),  # the worker serves these too (streams/app.py)
        IndexerMetrics(),
        NotifyMetrics(),
        WebMetrics(),
    ]
    series: dict[str, frozenset[str]] = dict(SCRAPE_SERIES)
    for holder in holders:
        for metric in vars(holder).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            labels = frozenset(metric._labelnames)
            for suffix in SUFFIXES[str(metric._type)]:
                name = metric._name + suffix
                assert name not in series, f"{name} defined twice"
                series[name] = labels | {"le"} if suffix == "_bucket" else labels
    return series


FUNCTIONS = {
    "abs", "absent", "avg", "avg_over_time", "ceil", "changes", "clamp_max", "clamp_min",
    "count", "delta", "deriv", "floor", "histogram_quantile", "increase", "irate", "max",
    "max_over_time", "min", "min_over_time", "predict_linear", "rate", "resets", "round",
    "scalar", "sum", "time", "topk", "vector",
}  # fmt: skip
KEYWORDS = {"and", "or", "unless", "bool", "offset"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_DURATION = re.compile(r"^(?:\d+(?:ms|s|m|h|d|w|y))+$")


def expression_problems(expr: str, series: dict[str, frozenset[str]]) -> list[str]:
    """Unknown series, functions and labels in one PromQL expression."""
    problems: list[str] = []
    for opening, closing in ("()", "[]", "{}"):
        if expr.count(opening) != expr.count(closing):
            problems.append(f"unbalanced {opening}{closing}")
    text = _RANGE.sub(" ", _STRING.sub('""', expr))
    grouping = [label.strip() for labels in _GROUPING.findall(text) for label in labels.split(",")]
    text = _GROUPING.sub(" ", text)
    used: set[str] = set()
    for metric, matchers in _SELECTOR.findall(text):
        labels = [m for m in _MATCHER.findall(matchers.replace('""', " ")) if m]
        if metric and metric in series:
            for label in labels:
                if label not in series[metric] | TARGET_LABELS:
                    problems.append(f"{metric} has no label {label!r}")
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    for match in _IDENTIFIER.finditer(text):
        name = match.group(0)
        after = text[match.end() :].lstrip()
        if after.startswith("("):
            if name not in FUNCTIONS:
                problems.append(f"unknown function {name}")
        elif name in KEYWORDS:
            continue
        elif name in series:
            used.add(name)
        else:
            problems.append(f"no role exposes {name}")
    known = frozenset().union(*(series[n] for n in used)) | TARGET_LABELS if used else TARGET_LABELS
    problems += [f"grouping by unknown label {g!r}" for g in grouping if g and g not in known]
    if not used:
        problems.append("selects no series")
    return problems


def load_rules() -> dict[str, Any]:
    loaded = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def all_rules() -> list[dict[str, Any]]:
    return [rule for group in load_rules()["groups"] for rule in group["rules"]]


def test_the_rules_file_has_the_structure_of_a_prometheus_rule_file() -> None:
    document = load_rules()
    assert set(document) == {"groups"}
    groups = document["groups"]
    assert isinstance(groups, list) and groups
    names = [group["name"] for group in groups]
    assert len(names) == len(set(names)), "group names must be unique"
    alerts = []
    for group in groups:
        assert set(group) <= {"name", "interval", "limit", "rules"}, group["name"]
        assert isinstance(group["name"], str) and group["name"]
        assert isinstance(group["rules"], list) and group["rules"], group["name"]
        for rule in group["rules"]:
            assert ("alert" in rule) != ("record" in rule), rule
            assert set(rule) <= {"alert", "record", "expr", "for", "keep_firing_for", "labels",
                                 "annotations"}, rule  # fmt: skip
            assert isinstance(rule["expr"], str) and rule["expr"].strip(), rule
            for key in ("for", "keep_firing_for"):
                if key in rule:
                    assert _DURATION.match(str(rule[key])), (rule.get("alert"), key, rule[key])
            for key in ("labels", "annotations"):
                mapping = rule.get(key, {})
                assert isinstance(mapping, dict), (rule.get("alert"), key)
                for label, value in mapping.items():
                    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label), label
                    assert isinstance(value, str), (rule.get("alert"), label, value)
            if "alert" in rule:
                assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"]), rule["alert"]
                assert rule["labels"]["severity"] in {"critical", "warning", "info"}
                assert rule["annotations"]["summary"]
                alerts.append(rule["alert"])
    assert len(alerts) == len(set(alerts)), "alert names must be unique"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.get("alert") or r.get("record"))
def test_each_rule_uses_only_series_and_labels_the_roles_expose(rule: dict[str, Any]) -> None:
    assert expression_problems(rule["expr"], exposed_series()) == []


def test_the_rules_cover_what_the_guide_promises() -> None:
    series = exposed_series()
    used = {
        match.group(0)
        for rule in all_rules()
        for match in _IDENTIFIER.finditer(
            _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", _STRING.sub("", rule["expr"]))
        )
        if match.group(0) in series
    }
    for needed in (
        "up",  # worker (and every role) down
        "sitrep_worker_consumer_lag",  # consumer lag growing
        "sitrep_indexer_consumer_lag",
        "sitrep_worker_records_total",  # dead letters
        "sitrep_intake_reports_rejected_total",
        "sitrep_indexer_deadlettered_total",
        "sitrep_notify_deliveries_total",  # notifier failures
        "sitrep_indexer_paused",  # indexer paused
    ):
        assert needed in used, needed


@pytest.mark.parametrize(
    "expr",
    [
        "sitrep_worker_no_such_metric > 0",
        "rate(sitrep_worker_records[5m]) > 0",  # a counter without _total
        'sum(rate(sitrep_worker_records_total{reason="invalid"}[5m]))',  # label is outcome
        "sum by (channel) (sitrep_worker_consumer_lag)",
        "no_such_function(sitrep_indexer_paused)",
        "(sitrep_indexer_paused == 1",
    ],
)
def test_the_expression_check_refuses_what_does_not_exist(expr: str) -> None:
    assert expression_problems(expr, exposed_series())


def _slug(heading: str) -> str:
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_every_alert_is_in_the_guide_and_links_to_one_of_its_headings() -> None:
    text = DOC.read_text(encoding="utf-8")
    anchors = {_slug(h) for h in re.findall(r"^#{2,4} (.+)$", text, re.MULTILINE)}
    alerts = {rule["alert"]: rule for rule in all_rules() if "alert" in rule}
    for name, rule in alerts.items():
        assert f"`{name}`" in text, f"{name} is not described in docs/operations.md"
        url = rule["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page == "docs/operations.md", url
        assert anchor in anchors, f"{name}: no heading #{anchor} in docs/operations.md"
    named = set(re.findall(r"`(Sitrep[A-Z][A-Za-z]+)`", text))
    assert named <= set(alerts), f"described but not in alerts.yaml: {named - set(alerts)}"


def test_metric_names_on_the_page_exist() -> None:
    """Series as exposed; a histogram may also be named by its family name."""
    text = DOC.read_text(encoding="utf-8")
    series = exposed_series()
    histograms = {name.removesuffix("_bucket") for name in series if name.endswith("_bucket")}
    named = set(re.findall(r"\bsitrep_[a-z_]+[a-z]", text))
    assert len(named) >= 20
    assert {name for name in named if name not in set(series) | histograms} == set()
