"""The `empire` command: server, migrate and reconcile, plus the admin groups of `empire.admin`."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

import click

from empire import admin
from empire.admin import load_settings, open_empire
from empire.errors import EmpireError
from empire.reconciler import Reconciler
from empire.settings import Settings
from empire.store import migrate as migrations
from empire.wiring import (
    build_api,
    build_applog,
    build_collector,
    build_dispatcher,
    build_drains,
    build_empire,
    build_event_sink,
    build_metrics,
    build_router,
    build_store,
    check_keys,
)

log = logging.getLogger("empire")


class _Cli(click.Group):
    """The command group: an EmpireError (bad settings, unknown app, ...) is the command's
    error message and exit status 1, whichever command raised it."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except EmpireError as exc:
            raise click.ClickException(exc.message) from exc


@click.group(cls=_Cli)
def cli() -> None:
    """Empire: a self-hosted platform-as-a-service speaking the Heroku Platform API."""


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8080).")
@click.option(
    "--migrate/--no-migrate",
    default=None,
    help="Migrate the database at start (default: on for SQLite).",
)
def server(host: str | None, port: int | None, migrate: bool | None) -> None:
    """Run the API server."""
    import uvicorn

    from empire.api.server import uvicorn_options

    settings = load_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    listening = host or settings.host
    check_keys(settings, listening)  # one message naming every missing key
    store = build_store(settings, listening)
    if settings.tls:
        for name, path in (
            ("EMPIRE_TLS_CERT", settings.tls_cert),
            ("EMPIRE_TLS_KEY", settings.tls_key),
        ):
            if path is None or not path.is_file():
                raise click.ClickException(f"{name}: there is no file {path}")
    elif not Settings.is_loopback(listening):
        log.warning(
            "listening on %s without TLS: API tokens travel in clear unless a TLS proxy is in "
            "front (set EMPIRE_TLS_CERT and EMPIRE_TLS_KEY to serve HTTPS)",
            listening,
        )
    if migrate if migrate is not None else settings.sqlite:
        migrations.upgrade(store.engine, cipher=store.cipher)
    store.check()
    applog = build_applog()  # the platform's lines of each app's log: api, states, router
    metrics = build_metrics(settings)
    # Each public request the router answers: a `router` line, and the app's request metrics.
    router = build_router(settings, applog, [metrics] if metrics is not None else [])
    router.start()  # supervises the router container: brought back within a second or two
    empire = build_empire(
        settings,
        store=store,
        router=router,
        events=build_event_sink(settings),
        host=listening,
        metrics=metrics,
        applog=applog,
    )
    reconciler = Reconciler(empire, settings.reconcile_interval)
    collector = None
    if metrics is not None:
        metrics.watch_reconciler(reconciler)
        metrics.watch_router(router)
        collector = build_collector(settings, metrics, empire)
        collector.start()  # reads the engine every EMPIRE_METRICS_INTERVAL seconds
    reconciler.start(now=True)  # converges in the background: the API answers meanwhile
    dispatcher = build_dispatcher(settings, store, listening) if settings.webhooks else None
    if dispatcher is not None:
        dispatcher.start()  # sends webhook deliveries, first those a previous process left
    empire.scheduler.start()  # cron, supervision: whatever the backend runs in the background
    # Log drains: process output followed per app, the platform's lines from the app log.
    drains = build_drains(settings, empire, applog=applog)
    drains.start()
    if metrics is not None:
        metrics.backlog("drain", drains.backlog)
    try:
        uvicorn.run(
            build_api(settings, empire, metrics),
            host=host or settings.host,
            port=port or settings.port,
            log_level=settings.log_level,
            access_log=False,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            ws=_websockets,  # type: ignore[arg-type]  # a factory: imported at the first WebSocket
            # Header deadline, connection limit, keep-alive, and Go emp's attached runs.
            **uvicorn_options(
                header_timeout=settings.header_timeout,
                max_connections=settings.max_connections,
            ),
        )
    finally:
        if collector is not None:
            collector.close()
        drains.close()
        if dispatcher is not None:
            dispatcher.stop()
        reconciler.stop()
        router.close()
        empire.scheduler.close()


def _websockets(*args: Any, **kwargs: Any) -> asyncio.Protocol:
    """uvicorn's WebSocket protocol, imported when a connection first upgrades."""
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    return WebSocketsSansIOProtocol(*args, **kwargs)


@cli.command()
def migrate() -> None:
    """Migrate the database to the newest schema."""
    settings = load_settings()
    store = build_store(settings)
    before = migrations.current(store.engine)
    migrations.upgrade(store.engine, cipher=store.cipher)
    after = migrations.current(store.engine)
    click.echo("Up to date" if before == after else f"Migrated from {before} to {after}")


@cli.command()
def reconcile() -> None:
    """Resubmit every app's current release to the scheduler."""
    click.echo(f"Resubmitted {open_empire().reconcile()} apps.")


for group in (admin.users, admin.tokens, admin.keys, admin.webhooks, admin.teams, admin.access):
    cli.add_command(group)


if __name__ == "__main__":
    sys.exit(cli())
