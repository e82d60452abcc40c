"""Settings: the one place that reads the environment (`Settings.from_env`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from empire.errors import Invalid
from empire.failpoints import POINTS as FAILPOINTS

SCHEDULERS = ("docker", "fake", "swarm", "ecs")
ROUTERS = ("caddy", "none")
IMAGES = ("docker", "fake")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
MIN_SECRET_LENGTH = 32
# What the ECS scheduler cannot start without (EMPIRE_AWS_ENDPOINT_URL and
# EMPIRE_ECS_EVENTS_ROLE_ARN are optional).
ECS_REQUIRED = (
    "EMPIRE_AWS_REGION",
    "EMPIRE_ECS_CLUSTER",
    "EMPIRE_ECS_SUBNETS",
    "EMPIRE_ECS_SECURITY_GROUPS",
    "EMPIRE_ECS_PUBLIC_LISTENER_ARN",
    "EMPIRE_ECS_INTERNAL_LISTENER_ARN",
    "EMPIRE_ECS_HOSTED_ZONE_ID",
    "EMPIRE_ECS_TASK_ROLE_ARN",
    "EMPIRE_ECS_EXECUTION_ROLE_ARN",
    "EMPIRE_ECS_LOG_GROUP",
)


@dataclass(frozen=True, slots=True)
class Settings:
    data_dir: Path
    database_url: str
    scheduler: str = "fake"
    images: str = "docker"
    messages_required: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    docker_host: str = "unix:///var/run/docker.sock"
    docker_config: str | None = None
    max_body_bytes: int = 1 << 20
    token_ttl: timedelta | None = timedelta(days=30)
    rate_limit_per_hour: int = 4500
    docker_network: str = "empire"
    router: str = "caddy"
    router_admin: str = "127.0.0.1:2019"
    router_listen: str = ":80"
    router_tls_listen: str = ":443"
    reconcile_interval: float = 10.0
    health_timeout: float = 60.0
    # Secrets stay out of reprs (a Settings in a traceback or a log line shows no key).
    encryption_keys: tuple[str, ...] = field(default=(), repr=False)
    # Signs what Empire hands out (API tokens are stored as HMACs under it, webhook signatures
    # derive from it). On loopback a missing one is made once in the data dir (wiring).
    secret_key: str | None = field(default=None, repr=False)
    events_stdout: bool = True  # `empire server` writes one JSON line per event to stdout
    webhooks: tuple[str, ...] = ()
    webhook_secret: str | None = field(default=None, repr=False)  # default: from secret_key
    webhook_attempts: int = 8
    webhook_backoff: float = 1.0  # seconds before the first retry; doubles after each failure
    tls_cert: Path | None = None
    tls_key: Path | None = None
    swarm_network: str = "empire-swarm"
    swarm_registry: str | None = None
    swarm_router_image: str = "empire-caddy:2.6"
    swarm_monitor: float = 5.0
    log_level: str = "info"
    aws_region: str = ""
    aws_endpoint_url: str | None = None
    ecs_cluster: str = ""
    ecs_subnets: tuple[str, ...] = ()
    ecs_security_groups: tuple[str, ...] = ()
    ecs_public_listener_arn: str = ""
    ecs_internal_listener_arn: str = ""
    ecs_hosted_zone_id: str = ""
    ecs_task_role_arn: str = ""
    ecs_execution_role_arn: str = ""
    ecs_log_group: str = ""
    ecs_events_role_arn: str | None = None
    ecs_deploy_timeout: float = 600.0
    # Fault tests only: where a deploy pauses so the test can kill -9 Empire (empire.failpoints).
    failpoints: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every EMPIRE_* setting; raise Invalid naming each bad value."""
        env = os.environ if env is None else env
        home = Path(env.get("HOME", "/root"))
        xdg = Path(env.get("XDG_DATA_HOME", home / ".local" / "share"))
        data_dir = Path(env.get("EMPIRE_DATA_DIR", xdg / "empire"))
        database_url = env.get("EMPIRE_DATABASE_URL") or f"sqlite:///{data_dir / 'empire.db'}"
        if database_url.startswith(("postgres://", "postgresql://")):
            database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
        scheduler = env.get("EMPIRE_SCHEDULER", "docker")
        router = env.get("EMPIRE_ROUTER", "caddy" if scheduler in ("docker", "swarm") else "none")
        images = env.get("EMPIRE_IMAGES", "docker")
        problems = []
        if scheduler not in SCHEDULERS:
            problems.append(f"EMPIRE_SCHEDULER={scheduler!r} (use one of {', '.join(SCHEDULERS)})")
        if router not in ROUTERS:
            problems.append(f"EMPIRE_ROUTER={router!r} (use one of {', '.join(ROUTERS)})")
        numbers = {}
        for name, default in (
            ("EMPIRE_RECONCILE_INTERVAL", "10"),
            ("EMPIRE_HEALTH_TIMEOUT", "60"),
            ("EMPIRE_ECS_DEPLOY_TIMEOUT", "600"),
            ("EMPIRE_SWARM_MONITOR", "5"),
            ("EMPIRE_WEBHOOK_BACKOFF_SECONDS", "1"),
        ):
            try:
                numbers[name] = float(env.get(name, default))
            except ValueError:
                problems.append(f"{name}={env.get(name)!r} (use a number of seconds)")
        if images not in IMAGES:
            problems.append(f"EMPIRE_IMAGES={images!r} (use one of {', '.join(IMAGES)})")
        port = env.get("EMPIRE_PORT", "8080")
        if not port.isdigit():
            problems.append(f"EMPIRE_PORT={port!r} (use a port number)")
        max_body = env.get("EMPIRE_MAX_BODY_BYTES", str(1 << 20))
        if not max_body.isdigit():
            problems.append(f"EMPIRE_MAX_BODY_BYTES={max_body!r} (use a number of bytes)")
        ttl = env.get("EMPIRE_TOKEN_TTL_DAYS", "30")
        if not ttl.isdigit():
            problems.append(f"EMPIRE_TOKEN_TTL_DAYS={ttl!r} (use a number of days, 0 = never)")
        rate = env.get("EMPIRE_RATE_LIMIT_PER_HOUR", "4500")
        if not rate.isdigit():
            problems.append(f"EMPIRE_RATE_LIMIT_PER_HOUR={rate!r} (use a number, 0 = no limit)")
        if scheduler == "ecs":
            missing = [name for name in ECS_REQUIRED if not env.get(name, "").strip()]
            if missing:
                problems.append(
                    f"EMPIRE_SCHEDULER=ecs needs {', '.join(missing)} "
                    "(set them, or choose another EMPIRE_SCHEDULER)"
                )
        secret_key = env.get("EMPIRE_SECRET_KEY", "").strip() or None
        if secret_key is not None and len(secret_key) < MIN_SECRET_LENGTH:
            # Never the value itself: settings errors end up in logs.
            problems.append(
                f"EMPIRE_SECRET_KEY is too short (use at least {MIN_SECRET_LENGTH} random "
                "characters: make one with `empire keys generate`)"
            )
        webhooks = _list(env.get("EMPIRE_WEBHOOKS", ""))
        for n, url in enumerate(webhooks, 1):
            if not re.fullmatch(r"https?://[^/\s?#]+(/\S*)?", url):
                problems.append(f"EMPIRE_WEBHOOKS: URL {n} is not an http:// or https:// URL")
        attempts = env.get("EMPIRE_WEBHOOK_ATTEMPTS", "8")
        if not attempts.isdigit() or int(attempts) < 1:
            problems.append(f"EMPIRE_WEBHOOK_ATTEMPTS={attempts!r} (use a number, at least 1)")
        tls_cert = env.get("EMPIRE_TLS_CERT", "").strip()
        tls_key = env.get("EMPIRE_TLS_KEY", "").strip()
        if bool(tls_cert) != bool(tls_key):
            given, absent = (
                ("EMPIRE_TLS_CERT", "EMPIRE_TLS_KEY")
                if tls_cert
                else ("EMPIRE_TLS_KEY", "EMPIRE_TLS_CERT")
            )
            problems.append(
                f"{given} is set but {absent} is not (TLS needs both: the certificate chain "
                "and its private key, as PEM files)"
            )
        events_stdout = (env.get("EMPIRE_EVENTS_STDOUT") or "true").strip().lower()
        if events_stdout not in _TRUE | _FALSE:
            problems.append(f"EMPIRE_EVENTS_STDOUT={events_stdout!r} (use true or false)")
        failpoints = _list(env.get("EMPIRE_FAILPOINTS", ""))
        unknown = [name for name in failpoints if name not in FAILPOINTS]
        if unknown:
            problems.append(
                f"EMPIRE_FAILPOINTS={','.join(unknown)!r} (use some of {', '.join(FAILPOINTS)})"
            )
        if problems:
            raise Invalid("invalid settings: " + "; ".join(problems))
        return cls(
            data_dir=data_dir,
            database_url=database_url,
            scheduler=scheduler,
            images=images,
            messages_required=env.get("EMPIRE_MESSAGES_REQUIRED", "").lower() in _TRUE,
            host=env.get("EMPIRE_HOST", "127.0.0.1"),
            port=int(port),
            docker_host=env.get("EMPIRE_DOCKER_HOST", "unix:///var/run/docker.sock"),
            docker_config=env.get("EMPIRE_DOCKER_CONFIG"),
            max_body_bytes=int(max_body),
            token_ttl=timedelta(days=int(ttl)) if int(ttl) else None,
            log_level=env.get("EMPIRE_LOG_LEVEL", "info"),
            rate_limit_per_hour=int(rate),
            docker_network=env.get("EMPIRE_DOCKER_NETWORK", "empire"),
            router=router,
            router_admin=env.get("EMPIRE_ROUTER_ADMIN", "127.0.0.1:2019"),
            router_listen=env.get("EMPIRE_ROUTER_LISTEN", ":80"),
            router_tls_listen=env.get("EMPIRE_ROUTER_TLS_LISTEN", ":443"),
            reconcile_interval=numbers["EMPIRE_RECONCILE_INTERVAL"],
            health_timeout=numbers["EMPIRE_HEALTH_TIMEOUT"],
            swarm_network=env.get("EMPIRE_SWARM_NETWORK", "empire-swarm"),
            swarm_registry=env.get("EMPIRE_SWARM_REGISTRY") or None,
            swarm_router_image=env.get("EMPIRE_SWARM_ROUTER_IMAGE", "empire-caddy:2.6"),
            swarm_monitor=numbers["EMPIRE_SWARM_MONITOR"],
            encryption_keys=tuple(
                key.strip()
                for key in env.get("EMPIRE_ENCRYPTION_KEY", "").split(",")
                if key.strip()
            ),
            aws_region=env.get("EMPIRE_AWS_REGION", ""),
            aws_endpoint_url=env.get("EMPIRE_AWS_ENDPOINT_URL") or None,
            ecs_cluster=env.get("EMPIRE_ECS_CLUSTER", ""),
            ecs_subnets=_list(env.get("EMPIRE_ECS_SUBNETS", "")),
            ecs_security_groups=_list(env.get("EMPIRE_ECS_SECURITY_GROUPS", "")),
            ecs_public_listener_arn=env.get("EMPIRE_ECS_PUBLIC_LISTENER_ARN", ""),
            ecs_internal_listener_arn=env.get("EMPIRE_ECS_INTERNAL_LISTENER_ARN", ""),
            ecs_hosted_zone_id=env.get("EMPIRE_ECS_HOSTED_ZONE_ID", ""),
            ecs_task_role_arn=env.get("EMPIRE_ECS_TASK_ROLE_ARN", ""),
            ecs_execution_role_arn=env.get("EMPIRE_ECS_EXECUTION_ROLE_ARN", ""),
            ecs_log_group=env.get("EMPIRE_ECS_LOG_GROUP", ""),
            ecs_events_role_arn=env.get("EMPIRE_ECS_EVENTS_ROLE_ARN") or None,
            ecs_deploy_timeout=numbers["EMPIRE_ECS_DEPLOY_TIMEOUT"],
            secret_key=secret_key,
            events_stdout=events_stdout in _TRUE,
            webhooks=webhooks,
            webhook_secret=env.get("EMPIRE_WEBHOOK_SECRET", "").strip() or None,
            webhook_attempts=int(attempts),
            webhook_backoff=numbers["EMPIRE_WEBHOOK_BACKOFF_SECONDS"],
            tls_cert=Path(tls_cert) if tls_cert else None,
            tls_key=Path(tls_key) if tls_key else None,
            failpoints=failpoints,
        )

    @staticmethod
    def is_loopback(host: str) -> bool:
        """Whether an address is only reachable from this machine."""
        return host in ("localhost", "::1") or host.startswith("127.")

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None and self.tls_key is not None

    @property
    def sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _list(text: str) -> tuple[str, ...]:
    """A comma- or space-separated list (`subnet-a,subnet-b`)."""
    return tuple(item for item in text.replace(",", " ").split() if item)
