"""``tiandi auth token create|list|revoke`` and ``tiandi serve``: the platform service.

Registered in :mod:`tiandi.cli.app`. Tokens live in ``<TIANDI_HOME>/service/tokens.sqlite``
(hashed); the service reads the patch store the settings name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.table import Table

from tiandi._time import iso_utc
from tiandi.cli.common import friendly_errors, make_console
from tiandi.settings import Settings

auth_app: typer.Typer = typer.Typer(
    help="Service tokens (bearer tokens with roles).", no_args_is_help=True
)
token_app: typer.Typer = typer.Typer(help="Create, list and revoke tokens.", no_args_is_help=True)
auth_app.add_typer(token_app, name="token")


@token_app.command("create")
@friendly_errors
def token_create(
    role: Annotated[str, typer.Option(help="operator, ecologist, platform or field.")],
    station: Annotated[
        str | None, typer.Option(help="Station id (field tokens only, required there).")
    ] = None,
    days: Annotated[float, typer.Option(help="Days until the token expires.")] = 30.0,
    holder: Annotated[
        str | None, typer.Option(help="Who holds it (the actor in the audit log).")
    ] = None,
) -> None:
    """Create a token and print it once (only its hash is kept)."""
    from tiandi.service.auth import TokenStore

    store = TokenStore(Settings().tokens_path)
    info, token = store.create(role, holder=holder, station_id=station, days=days)
    err = make_console(stderr=True, highlight=False)
    where = f", station {info.station_id}" if info.station_id else ""
    err.print(
        f"token {info.token_id} for {info.holder} (role {info.role.value}{where}), expires "
        f"{iso_utc(info.expires_at)}. It is shown only now: keep it safe."
    )
    typer.echo(token)


@token_app.command("list")
@friendly_errors
def token_list() -> None:
    """List tokens (id, holder, role, station, expiry, state); never the tokens."""
    from tiandi.service.auth import TokenStore

    store = TokenStore(Settings().tokens_path)
    now = datetime.now(UTC)
    table = Table("id", "holder", "role", "station", "expires", "state")
    for info in store.tokens():
        table.add_row(
            info.token_id,
            info.holder,
            info.role.value,
            info.station_id or "",
            iso_utc(info.expires_at),
            info.state(now),
        )
    make_console(width=160).print(table)


@token_app.command("revoke")
@friendly_errors
def token_revoke(token_id: Annotated[str, typer.Argument(help="Token id (from list).")]) -> None:
    """Revoke a token: the service refuses it from now on."""
    from tiandi.service.auth import TokenStore

    info = TokenStore(Settings().tokens_path).revoke(token_id)
    when = iso_utc(info.revoked_at or info.created_at)
    make_console(highlight=False).print(f"token {info.token_id} ({info.holder}) revoked at {when}")


#: The demo's first verification station (tiandi/demo/scene_layout.py), for the demo's field token.
DEMO_STATION = "ST01"


def demo_tokens(
    settings: Settings, *, station: str = DEMO_STATION, days: float = 1.0
) -> dict[str, str]:
    """One fresh token per role, held by "demo" (the field one bound to ``station``),
    valid for ``days``; role → token. Each is kept hashed like any other token."""
    from tiandi.service.auth import ServiceRole, TokenStore

    store = TokenStore(settings.tokens_path)
    made = {}
    for role in ServiceRole:
        where = station if role is ServiceRole.FIELD else None
        made[role.value] = store.create(role, holder="demo", station_id=where, days=days)[1]
    return made


@friendly_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    demo_tokens_: Annotated[
        bool,
        typer.Option(
            "--demo-tokens",
            help='Create and print a fresh token per role (holder "demo", valid one day; the '
            "field token for the demo's station ST01), e.g. to try the review page.",
        ),
    ] = False,
) -> None:
    """Run the platform service (HTTP API under /api/v1, OpenAPI at /openapi.json, the
    review page at /review/)."""
    import uvicorn

    from tiandi.service.app import create_app

    settings = Settings()
    app = create_app(settings)
    out = make_console(highlight=False, soft_wrap=True)
    out.print(
        f"tiandi service at http://{host}:{port}/api/v1 (OpenAPI: /openapi.json, docs: /docs)"
    )
    out.print(
        f"review page: http://{host}:{port}/review/ (patch store: {settings.patch_store_path})"
    )
    if demo_tokens_:
        out.print('demo tokens (holder "demo", valid one day; paste one into the page):')
        for role, token in demo_tokens(settings).items():
            out.print(f"  {role:<10} {token}")
    out.print("Ctrl-C to stop")
    uvicorn.run(app, host=host, port=port, log_level="warning")
