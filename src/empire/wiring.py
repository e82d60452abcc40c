"""The composition root: Settings → store, scheduler, images, events → Empire → the API.

Backends are chosen by name here and imported lazily, so boto3 or docker load only when used.
Only `empire.main` and the tests import this module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO, cast

from fastapi import FastAPI

from empire.api import create_app
from empire.applog import AppLog
from empire.applogs.memory import MemoryAppLog
from empire.applogs.requests import RouterLines
from empire.applogs.sentences import AppLogSink
from empire.audit import StoreSink
from empire.builds import Builder, BuildLimits
from empire.core import Empire, utcnow
from empire.drains.rules import DrainPolicy
from empire.errors import Invalid, NotSupported
from empire.events import EventSink, FanOut, LogSink, StdoutSink
from empire.failpoints import Failpoints
from empire.images import Images
from empire.images.policy import ImagePolicy
from empire.router import NoRouter, Router
from empire.router.access import RequestListener
from empire.scheduler import Scheduler
from empire.secrets import SECRET_KEY_FILE, Cipher, local_key, private_dir
from empire.settings import Settings
from empire.store import Store, migrate
from empire.store.sql import SqlStore, connect
from empire.webhooks import Dispatcher, derive_secret

if TYPE_CHECKING:
    from empire.builds.registry import Credentials
    from empire.drains.service import DrainService
    from empire.metrics.readers import Reader
    from empire.metrics.registry import Collector, Metrics
    from empire.scheduler.ecs import EcsConfig, EcsScheduler


def build_store(settings: Settings, host: str | None = None) -> SqlStore:
    """Connect to the database; SQLite's directory is created when missing (private, 0700)."""
    if settings.sqlite:
        private_dir(settings.data_dir)
    return SqlStore(
        connect(settings.database_url),
        expected_revision=migrate.head(),
        cipher=build_cipher(settings, host),
    )


KEY_PURPOSES = {
    "EMPIRE_SECRET_KEY": "signs API tokens and webhooks",
    "EMPIRE_ENCRYPTION_KEY": "encrypts config vars at rest",
}


def check_keys(settings: Settings, host: str | None = None, names: Sequence[str] = ()) -> None:
    """Refuse, off loopback, to go on without the keys (`names`, default both), in one message
    naming each missing one. On loopback a missing key is made once in the data dir.

    Off loopback only the environment counts: keys a loopback run left in the data dir are
    not used, so a server never goes public with a key nobody chose.
    """
    listening = host or settings.host
    if Settings.is_loopback(listening):
        return
    given = {
        "EMPIRE_SECRET_KEY": settings.secret_key is not None,
        "EMPIRE_ENCRYPTION_KEY": bool(settings.encryption_keys),
    }
    missing = [name for name in (names or tuple(given)) if not given[name]]
    if not missing:
        return
    what = "; ".join(f"{name} {KEY_PURPOSES[name]}" for name in missing)
    raise Invalid(
        f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: "
        f"a server listening on {listening} must be given {'it' if len(missing) == 1 else 'them'} "
        f"({what}). Make {'one' if len(missing) == 1 else 'each'} with `empire keys generate` "
        "and set it in the environment"
    )


def build_cipher(settings: Settings, host: str | None = None) -> Cipher:
    """The config vars' cipher: the configured keys, else (on loopback) a local one."""
    if settings.encryption_keys:
        return Cipher(settings.encryption_keys)
    check_keys(settings, host, ("EMPIRE_ENCRYPTION_KEY",))
    return Cipher((local_key(settings.data_dir),))


def build_secret_key(settings: Settings, host: str | None = None) -> str:
    """EMPIRE_SECRET_KEY, else (on loopback) a key made once in the data dir (0600)."""
    if settings.secret_key is not None:
        return settings.secret_key
    check_keys(settings, host, ("EMPIRE_SECRET_KEY",))
    return local_key(settings.data_dir, SECRET_KEY_FILE)


def build_webhook_secret(settings: Settings, host: str | None = None) -> str:
    """EMPIRE_WEBHOOK_SECRET, else a secret derived from the secret key."""
    return settings.webhook_secret or derive_secret(build_secret_key(settings, host))


def build_applog() -> AppLog:
    """The platform's lines of each app's log: in memory, the last 1,500 per app."""
    return MemoryAppLog()


def build_event_sink(settings: Settings, stream: TextIO | None = None) -> EventSink:
    """What `empire server` sends events to, besides the store: JSON lines on stdout
    (EMPIRE_EVENTS_STDOUT, on by default), else the log."""
    return StdoutSink(stream) if settings.events_stdout else LogSink()


def build_dispatcher(
    settings: Settings, store: Store, host: str | None = None, **overrides: Any
) -> Dispatcher:
    """The webhook dispatcher over the store's outbox (`overrides` are for tests)."""
    options: dict[str, Any] = {
        "attempts": settings.webhook_attempts,
        "backoff_base": settings.webhook_backoff,
        **overrides,
    }
    return Dispatcher(store, build_webhook_secret(settings, host), **options)


def build_failpoints(settings: Settings) -> Failpoints:
    """The failpoints EMPIRE_FAILPOINTS arms (fault tests only; none otherwise)."""
    return Failpoints(settings.failpoints, settings.data_dir)


def build_router(
    settings: Settings,
    applog: AppLog | None = None,
    requests: Sequence[RequestListener] = (),
) -> Router:
    """Pick the router named by EMPIRE_ROUTER: on the Docker and Swarm backends, `caddy` is the
    router container (Caddy and the resolver) on the app network. Each public request it
    answers goes to `requests` (the metrics' listener) and, as a `router` line, to `applog`."""
    if settings.router == "caddy":  # Settings allow it only with the Docker and Swarm backends
        from empire.router.router import EngineRouter
        from empire.scheduler.kit.api import engine_api

        swarm = settings.scheduler == "swarm"
        return EngineRouter(
            engine_api(docker_client(settings)),
            network=settings.swarm_network if swarm else settings.docker_network,
            driver="overlay" if swarm else "bridge",
            state=settings.data_dir / "router",
            listen=settings.router_listen,
            tls_listen=settings.router_tls_listen,
            name=settings.router_container,
            drain=settings.drain_seconds,
            requests=[*([RouterLines(applog)] if applog is not None else []), *requests],
        )
    return NoRouter()


def build_scheduler(
    settings: Settings,
    clock: Callable[[], datetime],
    router: Router | None = None,
    applog: AppLog | None = None,
) -> Scheduler:
    """Pick the scheduler backend named by EMPIRE_SCHEDULER."""
    if settings.scheduler == "fake":
        from empire.scheduler.fake import FakeScheduler

        return FakeScheduler(clock)
    if settings.scheduler == "docker":
        from empire.scheduler.docker import DockerScheduler

        return DockerScheduler(
            docker_client(settings),
            router or build_router(settings, applog),
            network=settings.docker_network,
            clock=clock,
            health_timeout=settings.health_timeout,
            stop_timeout=settings.stop_timeout,
            drain=settings.drain_seconds,
            failpoints=build_failpoints(settings),
            isolate=settings.isolate_apps,
            applog=applog,
        )
    if settings.scheduler == "ecs":
        from empire.scheduler.ecs import EcsScheduler, make_clients

        return EcsScheduler(
            make_clients(settings.aws_region, settings.aws_endpoint_url),
            ecs_config(settings),
            clock=clock,
            deadline=settings.ecs_deploy_timeout,
        )
    if settings.scheduler == "swarm":
        from empire.scheduler.swarm import SwarmScheduler

        return SwarmScheduler(
            docker_client(settings),
            router or build_router(settings, applog),
            network=settings.swarm_network,
            registry=settings.swarm_registry,
            clock=clock,
            health_timeout=settings.health_timeout,
            monitor=settings.swarm_monitor,
            stop_grace=settings.stop_timeout,
        )
    raise NotSupported(f"the {settings.scheduler} scheduler is not available yet")


def ecs_config(settings: Settings) -> EcsConfig:
    """The ECS backend's view of the settings."""
    from empire.scheduler.ecs import EcsConfig

    return EcsConfig(
        region=settings.aws_region,
        cluster=settings.ecs_cluster,
        subnets=settings.ecs_subnets,
        security_groups=settings.ecs_security_groups,
        public_listener_arn=settings.ecs_public_listener_arn,
        internal_listener_arn=settings.ecs_internal_listener_arn,
        hosted_zone_id=settings.ecs_hosted_zone_id,
        task_role_arn=settings.ecs_task_role_arn,
        execution_role_arn=settings.ecs_execution_role_arn,
        log_group=settings.ecs_log_group,
        events_role_arn=settings.ecs_events_role_arn,
        drain_seconds=settings.drain_seconds,
        allowed_task_roles=settings.ecs_allowed_task_roles,
    )


def docker_client(settings: Settings) -> Any:
    """Connect to the Docker engine (lazily: nothing is sent until the first call)."""
    import docker

    # Following logs holds a connection per container and rollouts run in parallel.
    return docker.DockerClient(base_url=settings.docker_host, version="1.41", max_pool_size=32)


def build_image_policy(settings: Settings) -> ImagePolicy:
    """What may be deployed: EMPIRE_ALLOWED_IMAGES (patterns; none: any repository) and
    EMPIRE_ALLOW_LOCAL_REGISTRIES (default off)."""
    return ImagePolicy(
        allowed=tuple(settings.allowed_images),
        allow_local_registries=settings.allow_local_registries,
    )


def build_images(settings: Settings) -> Images:
    """Pick the images backend named by EMPIRE_IMAGES."""
    policy = build_image_policy(settings)
    if settings.images == "fake":
        from empire.images.fake import FakeImages

        return FakeImages(default_procfile=b"web: ./bin/web\n", accept_any=True, policy=policy)
    from empire.images.docker import DockerImages

    return DockerImages(
        docker_client(settings),
        auth_config_path=settings.docker_config,
        policy=policy,
        pulled_path=settings.data_dir / "images-pulled.json",
    )


def build_empire(
    settings: Settings,
    *,
    store: SqlStore | None = None,
    scheduler: Scheduler | None = None,
    images: Images | None = None,
    events: EventSink | None = None,
    router: Router | None = None,
    clock: Callable[[], datetime] = utcnow,
    host: str | None = None,
    metrics: Metrics | None = None,
    builder: Builder | None = None,
    applog: AppLog | None = None,
) -> Empire:
    """Build the facade from settings; tests pass their own fakes for any part. With
    `metrics`, the scheduler is measured (`MeteredScheduler`) and the facade serves the
    per-app figures.

    Every event is kept in the store (the audit trail, with a delivery per webhook URL), also
    sent to `events`, and written as an `api` line into its app's log (`applog`: give the one
    the router writes its lines to).
    """
    store = store or build_store(settings, host)
    images = images or build_images(settings)
    applog = applog or build_applog()
    scheduler = scheduler or build_scheduler(settings, clock, router, applog)
    sinks: tuple[EventSink, ...] = (
        StoreSink(store, settings.webhooks),
        events or LogSink(),
        AppLogSink(applog),
    )
    if metrics is not None:  # measured from outside; the facade reads the per-app figures
        from empire.metrics.scheduler import MeteredScheduler

        scheduler = MeteredScheduler(scheduler, metrics)
        sinks += (metrics.kinds,)
    empire = Empire(
        store=store,
        scheduler=scheduler,
        images=images,
        events=FanOut(*sinks),
        applog=applog,
        clock=clock,
        messages_required=settings.messages_required,
        token_ttl=settings.token_ttl,
        failpoints=build_failpoints(settings),
        secret_key=build_secret_key(settings, host),
        release_timeout=settings.release_timeout,
    )
    if metrics is not None:
        empire.figures = metrics.apps
    empire.use_builder(builder or build_builder(settings, images), build_limits(settings))
    empire.drain_policy = build_drain_policy(settings, host)
    return empire


def build_drain_policy(settings: Settings, host: str | None = None) -> DrainPolicy:
    """Which drain URLs may be added: EMPIRE_DRAINS_ALLOW_LOCAL, and never the API itself (by
    the names and addresses it answers on, and its port on any address of this machine)."""
    import socket

    port = settings.port
    names = {host or settings.host, "localhost", socket.gethostname(), socket.getfqdn()}
    own = {(name.lower().strip("[]"), port) for name in names if name} | {("*", port)}
    return DrainPolicy(allow_local=settings.drains_allow_local, own=frozenset(own))


def build_drains(
    settings: Settings, empire: Empire, applog: AppLog | None = None, **options: Any
) -> DrainService:
    """The drain service over the facade's drains and the scheduler's logs; the facade tells
    it at once when drains change (`options` are for tests and benchmarks)."""
    import ssl

    from empire.drains.outlet import Connector
    from empire.drains.service import DrainService

    tls = ssl.create_default_context(
        cafile=str(settings.drains_ca_file) if settings.drains_ca_file else None
    )
    connector = Connector(
        tls, allow_local=settings.drains_allow_local, api_ports=frozenset({settings.port})
    )
    service = DrainService(empire, empire.scheduler, connector, applog, **options)
    empire.drains_changed = service.changed
    return service


def build_builder(settings: Settings, images: Images) -> Builder:
    """What builds images from source: the Docker engine's builder, or (with the fake images
    backend) a fake one that adds what it "built" to those images."""
    if settings.images == "fake":
        from empire.builds.fake import FakeBuilder

        return FakeBuilder(images)
    from empire.builds.docker import DockerBuilder

    return DockerBuilder(
        docker_client(settings),
        registry=settings.registry,
        credentials=build_registry_credentials(settings),
    )


def build_registry_credentials(settings: Settings) -> Credentials | None:
    """What a build's push to EMPIRE_REGISTRY logs in with: ECR's authorization token when the
    registry is ECR's (asked of AWS, at EMPIRE_AWS_ENDPOINT_URL when set), else the
    EMPIRE_DOCKER_CONFIG file's credentials for its host (none: anonymous)."""
    from empire.builds.registry import DockerConfig, EcrToken, ecr_registry

    if settings.registry is None:
        return None
    ecr = ecr_registry(settings.registry)
    if ecr is not None:
        return EcrToken(ecr_client(ecr.region, settings.aws_endpoint_url), ecr)
    if settings.docker_config:
        return DockerConfig(settings.docker_config, settings.registry)
    return None


def ecr_client(region: str, endpoint_url: str | None = None) -> Any:
    """A boto3 ECR client (credentials from boto3's usual chain), bounded like ECS's."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30
    )
    return boto3.session.Session(region_name=region).client(
        "ecr", endpoint_url=endpoint_url, config=config
    )


def build_limits(settings: Settings) -> BuildLimits:
    """What one build may use (the build settings)."""
    return BuildLimits(
        timeout=settings.build_timeout,
        memory=settings.build_memory,
        cpu_shares=settings.build_cpu_shares,
        max_source=settings.build_max_source,
    )


def build_api(settings: Settings, empire: Empire, metrics: Metrics | None = None) -> FastAPI:
    """Build the HTTP application around the facade (with `metrics`: `/metrics`, the per-app
    figures and the API's own series)."""
    return create_app(
        empire,
        max_body_bytes=settings.max_body_bytes,
        rate_per_hour=settings.rate_limit_per_hour,
        streams_per_token=settings.streams_per_token,
        body_timeout=settings.body_timeout,
        metrics=metrics,
        metrics_allow=settings.metrics_allow,
        metrics_token=settings.metrics_token,
        max_source_bytes=settings.build_max_source,
        git_root=settings.data_dir / "git",
        # A push builds and releases: the build's time, the release's, and some slack.
        git_timeout=settings.build_timeout + settings.health_timeout + 600,
    )


def build_metrics(settings: Settings) -> Metrics | None:
    """The metrics registry (None with EMPIRE_METRICS=false)."""
    if not settings.metrics:
        return None
    from empire.metrics.registry import Metrics

    return Metrics()


def build_metrics_reader(settings: Settings, scheduler: Scheduler) -> Reader:
    """What reads the engine for the per-process figures, by EMPIRE_SCHEDULER."""
    inner = getattr(scheduler, "inner", scheduler)  # under a MeteredScheduler
    if settings.scheduler == "docker":
        from empire.metrics.readers import DockerReader

        return DockerReader(docker_client(settings).api)
    if settings.scheduler == "swarm":
        from empire.metrics.swarm import SwarmReader

        return SwarmReader(docker_client(settings).api)
    if settings.scheduler == "ecs":
        from empire.metrics.ecs import EcsReader

        return EcsReader(cast("EcsScheduler", inner))
    from empire.metrics.readers import TasksReader

    return TasksReader(inner)


def build_collector(settings: Settings, metrics: Metrics, empire: Empire) -> Collector:
    """The thread that reads the engine every EMPIRE_METRICS_INTERVAL seconds (and the
    webhook backlog, when webhooks are on)."""
    from empire.metrics.registry import Collector
    from empire.webhooks import backlog

    if settings.webhooks:
        metrics.backlog("webhook", lambda: backlog(empire.store))
    reader = build_metrics_reader(settings, empire.scheduler)
    return Collector(metrics, reader, settings.metrics_interval)
