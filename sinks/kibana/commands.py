"""``sitrep kibana import|render``: the data views, the "Situasi" dashboard and the saved search
of the sitrep indices, into Kibana (or as NDJSON for Kibana's own import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sitrep.commands.common import Context, fail, pass_context

__all__ = ["kibana"]


@click.group()
def kibana() -> None:
    """Kibana saved objects: data views of the sitrep indices, the "Situasi" dashboard and the
    saved search "Laporan keparahan tinggi" (deploy/kibana/sitrep.ndjson)."""


_FILE_OPTION = click.option(
    "--file",
    "objects_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Saved objects as NDJSON (SITREP_KIBANA__OBJECTS_FILE, default "
    "deploy/kibana/sitrep.ndjson).",
)
_PREFIX_OPTION = click.option(
    "--index-prefix",
    default=None,
    metavar="PREFIX",
    help="Index prefix the data views read and the objects' ids carry "
    "(SITREP_INDEXER__INDEX_PREFIX, default sitrep).",
)


def _objects(ctx: Context, objects_file: Path | None, index_prefix: str | None) -> bytes:
    """The saved objects of the file, rewritten for the index prefix, as NDJSON."""
    from pydantic import ValidationError

    from sinks.kibana.saved_objects import SavedObjectsError, dumps, load, with_prefix
    from sinks.settings import IndexerSettings

    prefix = ctx.settings.indexer.index_prefix
    if index_prefix is not None:
        try:
            prefix = IndexerSettings(index_prefix=index_prefix).index_prefix
        except ValidationError:
            fail(f"--index-prefix {index_prefix!r}: lowercase letters, digits, - and _ only")
    try:
        objects = load(objects_file or ctx.settings.kibana.objects_file)
    except SavedObjectsError as exc:
        fail(str(exc))
    return dumps(with_prefix(objects, prefix))


@kibana.command("import")
@click.option("--url", default=None, help="Kibana's base URL (SITREP_KIBANA__URL).")
@click.option(
    "--space",
    default=None,
    help="Kibana space to import into, by its URL identifier (SITREP_KIBANA__SPACE, default: "
    "the default space).",
)
@_PREFIX_OPTION
@_FILE_OPTION
@pass_context
def import_(
    ctx: Context,
    url: str | None,
    space: str | None,
    index_prefix: str | None,
    objects_file: Path | None,
) -> None:
    """Import the saved objects into Kibana, replacing earlier versions (overwrite=true).

    \b
    Credentials come from the settings, never from the command line:
      SITREP_KIBANA__API_KEY (encoded, or id:key), or
      SITREP_KIBANA__USERNAME and SITREP_KIBANA__PASSWORD.
    TLS: SITREP_KIBANA__CA_CERTS, SITREP_KIBANA__VERIFY_CERTS.

    \b
    Exit status 1 if Kibana cannot be reached, refuses the request, or rejects any object
    (each rejected object is listed with the reason).

    \b
    Examples:
      sitrep kibana import --url https://kibana.polda.example:5601
      sitrep kibana import --space kaltim --index-prefix kaltim
    """
    from pydantic import ValidationError

    from sinks.kibana.importer import KibanaError, app_path, import_objects
    from sitrep import clients

    overrides: dict[str, Any] = {}
    if url is not None:
        overrides["url"] = url
    if space is not None:
        overrides["space"] = space
    try:
        kibana_settings = ctx.settings.kibana.model_validate(
            {**ctx.settings.kibana.model_dump(), **overrides}
        )
    except ValidationError as exc:
        problems = {str(error["loc"][0]): error["msg"] for error in exc.errors()}
        if "space" in problems:
            fail(f"--space {space!r}: a Kibana space identifier (lowercase letters, digits, - _)")
        fail(f"--url {url!r}: {problems.get('url', exc)}")
    settings = ctx.settings.model_copy(update={"kibana": kibana_settings})
    ndjson = _objects(ctx, objects_file, index_prefix)
    where = kibana_settings.url.rstrip("/")
    with clients.kibana(settings) as client:
        try:
            result = import_objects(client, ndjson, kibana_settings.space)
        except KibanaError as exc:
            fail(str(exc))
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not result.success:
        for failed in result.failed:
            click.echo(
                f"  failed  {failed.type:<14} {failed.id}  {failed.title}: {failed.reason}",
                err=True,
            )
        fail(
            f"Kibana at {where} rejected {len(result.failed)} saved object(s) in space "
            f"{kibana_settings.space!r} ({len(result.imported)} imported)"
        )
    click.echo(
        f"imported {len(result.imported)} saved object(s) into Kibana at {where}, "
        f"space {kibana_settings.space!r}:"
    )
    for item in result.imported:
        click.echo(f"  {item.type:<14} {item.id:<34} {item.title}")
    for item in result.imported:
        if item.type == "dashboard":
            path = app_path(kibana_settings.space, f"/app/dashboards#/view/{item.id}")
            click.echo(f"dashboard {item.title!r}: {where}{path}")


@kibana.command("render")
@_PREFIX_OPTION
@_FILE_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=None,
    help="Write here instead of standard output.",
)
@pass_context
def render(
    ctx: Context, index_prefix: str | None, objects_file: Path | None, out: Path | None
) -> None:
    """Print the saved objects for this index prefix as NDJSON, for Kibana's import page
    (Stack Management > Saved objects > Import) or the import API with curl."""
    ndjson = _objects(ctx, objects_file, index_prefix)
    if out is None:
        stdout = click.get_binary_stream("stdout")
        stdout.write(ndjson)
        stdout.flush()
        return
    try:
        out.write_bytes(ndjson)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(str(out))
