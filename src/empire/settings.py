"""Settings: the one place that reads the environment (`Settings.from_env`).

Every setting is one declaration in `Settings`: its attribute, its variable, its kind (how the
text is read and checked), its default (as one would write it in the environment) and what it
means. The same declarations build `from_env`, the dataclass defaults and the README's table
(`python -m empire.settings --markdown`; `scripts/settings-table` rewrites the README, and
tests/unit/test_settings.py fails when the two differ). A blank variable counts as unset.
"""

# `setting()` and `derived()` are field specifiers (they return `dataclasses.field(...)`).
# ruff: noqa: RUF009

from __future__ import annotations

import ipaddress
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import Field, dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any, Generic, TypeVar

from empire.errors import Invalid
from empire.failpoints import POINTS as FAILPOINTS
from empire.images.policy import ImagePolicy

SCHEDULERS = ("docker", "fake", "swarm", "ecs")
ROUTERS = ("caddy", "none")
IMAGES = ("docker", "fake")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off"})
MIN_SECRET_LENGTH = 32

T = TypeVar("T")
# A default computed from the environment and the settings read before this one.
Derive = Callable[[Mapping[str, str], Mapping[str, Any]], str]


class Refused(ValueError):
    """Why a setting's text cannot be read.

    The message is a hint shown as `NAME='value' (hint)`. A `quiet` one never shows the value
    (secrets, URLs that may carry passwords): it is shown right after the name, so it starts
    with its own separator (`" is too short ..."`, `": URL 2 ..."`).
    """

    def __init__(self, hint: str, *, quiet: bool = False) -> None:
        super().__init__(hint)
        self.hint = hint
        self.quiet = quiet

    def about(self, name: str, text: str) -> str:
        """The problem as `from_env` reports it."""
        return f"{name}{self.hint}" if self.quiet else f"{name}={text!r} ({self.hint})"


@dataclass(frozen=True, slots=True)
class Kind(Generic[T]):
    """How one setting's text becomes its value. `read` raises Refused; `shown` is the README's
    "Type" column. `read` also makes the default, from the declared default text."""

    shown: str
    read: Callable[[str], T]


@dataclass(frozen=True, slots=True)
class Var:
    """One environment variable: the metadata of a `Settings` field."""

    name: str
    kind: Kind[Any]
    default: str | None  # the text an unset variable stands for; None: `derive` decides
    doc: str
    shown: str | None = None  # the README's default when it is not `default` itself
    derive: Derive | None = None
    needed_by: str | None = None  # the EMPIRE_SCHEDULER that cannot start without it

    def shown_default(self) -> str:
        if self.shown is not None:
            return self.shown
        return f"`{self.default}`" if self.default else "none"


def setting(
    name: str,
    kind: Kind[T],
    doc: str,
    default: str = "",
    *,
    shown: str | None = None,
    derive: Derive | None = None,
    needed_by: str | None = None,
    secret: bool = False,
) -> T:
    """A `Settings` field read from `name`; its dataclass default is `kind.read(default)`.
    A secret stays out of reprs (a Settings in a traceback or a log line shows no key)."""
    var = Var(name, kind, default, doc, shown, derive, needed_by)
    value: T = field(default=kind.read(default), repr=not secret, metadata={"var": var})
    return value


def derived(
    name: str,
    kind: Kind[T],
    doc: str,
    shown: str,
    derive: Derive,
) -> Any:
    """A `Settings` field without a dataclass default: `derive` computes it in `from_env`."""
    return field(metadata={"var": Var(name, kind, None, doc, shown, derive)})


# --------------------------------------------------------------------------- kinds


def _text(text: str) -> str:
    return text


def _optional(text: str) -> str | None:
    return text or None


def _boolean(text: str) -> bool:
    folded = text.lower()
    if folded not in TRUE | FALSE:
        raise Refused("use true or false")
    return folded in TRUE


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise Refused("use a number of seconds")
    return seconds


def _list(text: str) -> tuple[str, ...]:
    """A comma- or space-separated list (`subnet-a,subnet-b`)."""
    return tuple(item for item in text.replace(",", " ").split() if item)


def _path(text: str) -> Path | None:
    return Path(text) if text else None


def _days(text: str) -> timedelta | None:
    days = INTEGER_DAYS.read(text)
    return timedelta(days=days) if days else None


def _secret(text: str) -> str | None:
    if text and len(text) < MIN_SECRET_LENGTH:
        # Never the value itself: settings errors end up in logs.
        raise Refused(
            f" is too short (use at least {MIN_SECRET_LENGTH} random characters: make one "
            "with `empire keys generate`)",
            quiet=True,
        )
    return text or None


def _webhooks(text: str) -> tuple[str, ...]:
    urls = _list(text)
    bad = [
        str(n)
        for n, url in enumerate(urls, 1)
        if not re.fullmatch(r"https?://[^/\s?#]+(/\S*)?", url)
    ]
    if len(bad) == 1:
        raise Refused(f": URL {bad[0]} is not an http:// or https:// URL", quiet=True)
    if bad:
        raise Refused(f": URLs {', '.join(bad)} are not http:// or https:// URLs", quiet=True)
    return urls


def _failpoints(text: str) -> tuple[str, ...]:
    names = _list(text)
    if any(name not in FAILPOINTS for name in names):
        raise Refused(f"use some of {', '.join(FAILPOINTS)}")
    return names


def _image_patterns(text: str) -> tuple[str, ...]:
    patterns = _list(text)
    try:
        ImagePolicy(allowed=patterns)
    except Invalid as e:
        raise Refused(e.message.removeprefix("EMPIRE_ALLOWED_IMAGES"), quiet=True) from e
    return patterns


def _networks(text: str) -> tuple[str, ...]:
    """CIDRs (`10.0.0.0/8`, `2001:db8::/32`) or single addresses, checked."""
    networks = _list(text)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise Refused(f"{network!r} is not an address or a CIDR such as 10.0.0.0/8") from None
    return networks


def _interval(text: str) -> float:
    seconds = _seconds(text)
    if seconds < 1:
        raise Refused("use a number of seconds, at least 1")
    return seconds


def _database_url(text: str) -> str:
    if text.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


def integer(hint: str, minimum: int = 0, maximum: int | None = None) -> Kind[int]:
    """A whole number from `minimum` to `maximum`; `hint` says what to use instead."""

    def read(text: str) -> int:
        number = int(text) if text.isascii() and text.isdigit() else -1
        if number < minimum or (maximum is not None and number > maximum):
            raise Refused(hint)
        return number

    shown = f"integer ≥ {minimum}" if maximum is None else f"integer {minimum} to {maximum}"
    return Kind(shown, read)


def one_of(options: Sequence[str], fold: bool = False) -> Kind[str]:
    """One of `options` (`fold`: in any case, read as lower case)."""

    def read(text: str) -> str:
        value = text.lower() if fold else text
        if value not in options:
            raise Refused(f"use one of {', '.join(options)}")
        return value

    return Kind("one of " + ", ".join(f"`{option}`" for option in options), read)


TEXT = Kind("text", _text)
OPTIONAL_TEXT = Kind("text", _optional)
BOOLEAN = Kind("boolean", _boolean)
SECONDS = Kind("seconds", _seconds)
LIST = Kind("list", _list)
PATH = Kind("path", _path)
DIRECTORY = Kind("path", Path)
INTEGER_DAYS = integer("use a number of days, 0 = never")
DAYS = Kind("days", _days)
SECRET = Kind(f"text, ≥ {MIN_SECRET_LENGTH} characters", _secret)
WEBHOOKS = Kind("list of URLs", _webhooks)
FAILPOINT_NAMES = Kind("list of " + ", ".join(f"`{p}`" for p in FAILPOINTS), _failpoints)
DATABASE_URL = Kind("URL", _database_url)
IMAGE_PATTERNS = Kind("list of repository patterns", _image_patterns)
NETWORKS = Kind("list of CIDRs", _networks)
INTERVAL = Kind("seconds, ≥ 1", _interval)


def _data_dir(env: Mapping[str, str], values: Mapping[str, Any]) -> str:
    home = env.get("HOME") or "/root"
    return f"{env.get('XDG_DATA_HOME') or home + '/.local/share'}/empire"


def _sqlite_in_data_dir(env: Mapping[str, str], values: Mapping[str, Any]) -> str:
    return f"sqlite:///{Path(values['data_dir']) / 'empire.db'}"


ENGINE_SCHEDULERS = ("docker", "swarm")  # the schedulers the router container serves


def _router_for(env: Mapping[str, str], values: Mapping[str, Any]) -> str:
    return "caddy" if values.get("scheduler", "docker") in ENGINE_SCHEDULERS else "none"


# --------------------------------------------------------------------------- the settings


@dataclass(frozen=True, slots=True)
class Settings:
    """What the server is configured with; the README's table lists the same, in this order."""

    data_dir: Path = derived(
        "EMPIRE_DATA_DIR",
        DIRECTORY,
        "Where Empire keeps its files",
        "`$XDG_DATA_HOME/empire`, i.e. `~/.local/share/empire`",
        _data_dir,
    )
    database_url: str = derived(
        "EMPIRE_DATABASE_URL",
        DATABASE_URL,
        "The store: SQLite (embedded, migrated at start) or `postgresql://...` "
        "(`empire migrate`, or `empire server --migrate`)",
        "`sqlite:///<data dir>/empire.db`",
        _sqlite_in_data_dir,
    )
    host: str = setting("EMPIRE_HOST", TEXT, "Where the API listens", "127.0.0.1")
    port: int = setting(
        "EMPIRE_PORT", integer("use a port number", 0, 65535), "The API's port", "8080"
    )
    log_level: str = setting(
        "EMPIRE_LOG_LEVEL",
        one_of(LOG_LEVELS, fold=True),
        "The least severe log messages the server writes (its own and the HTTP server's)",
        "info",
    )
    scheduler: str = setting(
        "EMPIRE_SCHEDULER",
        one_of(SCHEDULERS),
        "What runs the processes: the local Docker engine, a Docker Swarm, Amazon ECS, or "
        "`fake` (in memory, for demos)",
        "docker",
    )
    images: str = setting(
        "EMPIRE_IMAGES",
        one_of(IMAGES),
        "What resolves images and reads their Procfile: the local engine, or `fake`",
        "docker",
    )
    allowed_images: tuple[str, ...] = setting(
        "EMPIRE_ALLOWED_IMAGES",
        IMAGE_PATTERNS,
        "The repositories users may deploy, comma-separated: `acme/*`, "
        "`docker.io/library/redis`, `registry.example.com/acme/**` (`*` within one path "
        "segment, `**` across them; Docker Hub is `docker.io/library/x`); others are refused "
        "with 403",
        shown="none: any image",
    )
    allow_local_registries: bool = setting(
        "EMPIRE_ALLOW_LOCAL_REGISTRIES",
        BOOLEAN,
        "Allow images from a registry at a loopback, link-local or unspecified address "
        "(`127.0.0.1:5000/x`, `localhost:5000/x`, `169.254.169.254/x`), or a name that "
        "resolves to one",
        "false",
    )
    router: str = setting(
        "EMPIRE_ROUTER",
        one_of(ROUTERS),
        "What routes traffic to processes: `caddy` is the router container (Caddy and the "
        "resolver) on the app network, for public domains and `http://<app>` alike",
        "caddy",
        shown="`caddy` with the docker and swarm schedulers, else `none`",
        derive=_router_for,
    )
    router_container: str = setting(
        "EMPIRE_ROUTER_CONTAINER",
        TEXT,
        "The router container's name (Caddy and the resolver, on the app network)",
        "empire-router",
    )
    router_listen: str = setting(
        "EMPIRE_ROUTER_LISTEN", TEXT, "Where Caddy serves public apps over HTTP", ":80"
    )
    router_tls_listen: str = setting(
        "EMPIRE_ROUTER_TLS_LISTEN", TEXT, "Where Caddy serves public apps over HTTPS", ":443"
    )
    reconcile_interval: float = setting(
        "EMPIRE_RECONCILE_INTERVAL",
        SECONDS,
        "Time between reconciler rounds (heal crashes, rebuild routes)",
        "10",
    )
    health_timeout: float = setting(
        "EMPIRE_HEALTH_TIMEOUT",
        SECONDS,
        "Time a new release has to become healthy before it is rolled back",
        "60",
    )
    release_timeout: float = setting(
        "EMPIRE_RELEASE_TIMEOUT",
        SECONDS,
        "Time a release phase may run before it is stopped and the release fails",
        "3600",
    )
    build_timeout: float = setting(
        "EMPIRE_BUILD_TIMEOUT",
        SECONDS,
        "Time a build from source (`git push`, `emp deploy DIR`) may run before it is stopped "
        "and fails",
        "1800",
    )
    registry: str | None = setting(
        "EMPIRE_REGISTRY",
        OPTIONAL_TEXT,
        "Where built images are pushed (`host[:port][/path]`, credentials from "
        "`EMPIRE_DOCKER_CONFIG`) and deployed from, by digest, so every node can pull them",
        shown="none: the engine's own image store",
    )
    build_max_source: int = setting(
        "EMPIRE_BUILD_MAX_SOURCE",
        integer("use a number of bytes, at least 1", minimum=1),
        "Largest build source (the tar, uncompressed, or a push's pack) in bytes; larger is "
        "refused with 413 or 400",
        str(100 << 20),
    )
    build_memory: int = setting(
        "EMPIRE_BUILD_MEMORY",
        integer("use a number of bytes, at least 6 MB", minimum=6 << 20),
        "Memory limit of each build step's container, in bytes",
        str(1 << 30),
    )
    build_cpu_shares: int = setting(
        "EMPIRE_BUILD_CPU_SHARES",
        integer("use a number from 2 to 262144", minimum=2, maximum=262144),
        "CPU shares of each build step's container (1024: one process's fair share)",
        "512",
    )
    drain_seconds: float = setting(
        "EMPIRE_DRAIN_SECONDS",
        SECONDS,
        "Time a stopping process still gets the requests it took after it left discovery "
        "(public and internal) before it is sent SIGTERM; on ECS, the target groups' "
        "deregistration delay (whole seconds, rounded up)",
        "2",
    )
    stop_timeout: int = setting(
        "EMPIRE_STOP_TIMEOUT",
        integer("use a number of seconds"),
        "Seconds between SIGTERM and SIGKILL when a process stops (as on Heroku)",
        "30",
    )
    docker_host: str = setting(
        "EMPIRE_DOCKER_HOST",
        TEXT,
        "The Docker engine (with swarm: a manager's)",
        "unix:///var/run/docker.sock",
    )
    docker_network: str = setting(
        "EMPIRE_DOCKER_NETWORK",
        TEXT,
        "The bridge network the router and the apps share (see `EMPIRE_ISOLATE_APPS`)",
        "empire",
    )
    isolate_apps: bool = setting(
        "EMPIRE_ISOLATE_APPS",
        BOOLEAN,
        "Docker: give each app a bridge network of its own, which the router joins, so an app "
        "reaches another only through the router, by name (`http://<app>/`), never directly",
        "false",
    )
    docker_config: str | None = setting(
        "EMPIRE_DOCKER_CONFIG",
        OPTIONAL_TEXT,
        "A Docker `config.json` with registry credentials for pulls",
    )
    swarm_network: str = setting(
        "EMPIRE_SWARM_NETWORK", TEXT, "Swarm: the overlay network", "empire-swarm"
    )
    swarm_registry: str | None = setting(
        "EMPIRE_SWARM_REGISTRY", OPTIONAL_TEXT, "Swarm: the registry every node pulls from"
    )
    swarm_monitor: float = setting(
        "EMPIRE_SWARM_MONITOR", SECONDS, "Swarm: the update monitor window", "5"
    )
    aws_region: str = setting("EMPIRE_AWS_REGION", TEXT, "ECS: the AWS region", needed_by="ecs")
    aws_endpoint_url: str | None = setting(
        "EMPIRE_AWS_ENDPOINT_URL",
        OPTIONAL_TEXT,
        "ECS: one endpoint for every AWS API (a moto server, a VPC endpoint proxy)",
        shown="AWS's own endpoints",
    )
    ecs_cluster: str = setting("EMPIRE_ECS_CLUSTER", TEXT, "ECS: the cluster", needed_by="ecs")
    ecs_subnets: tuple[str, ...] = setting(
        "EMPIRE_ECS_SUBNETS", LIST, "ECS: the subnets tasks run in", needed_by="ecs"
    )
    ecs_security_groups: tuple[str, ...] = setting(
        "EMPIRE_ECS_SECURITY_GROUPS", LIST, "ECS: the tasks' security groups", needed_by="ecs"
    )
    ecs_public_listener_arn: str = setting(
        "EMPIRE_ECS_PUBLIC_LISTENER_ARN",
        TEXT,
        "ECS: the public load balancer's listener (a host rule per domain)",
        needed_by="ecs",
    )
    ecs_internal_listener_arn: str = setting(
        "EMPIRE_ECS_INTERNAL_LISTENER_ARN",
        TEXT,
        "ECS: the internal load balancer's listener (`http://<app>`)",
        needed_by="ecs",
    )
    ecs_hosted_zone_id: str = setting(
        "EMPIRE_ECS_HOSTED_ZONE_ID",
        TEXT,
        "ECS: the Route53 private zone of the internal names",
        needed_by="ecs",
    )
    ecs_task_role_arn: str = setting(
        "EMPIRE_ECS_TASK_ROLE_ARN", TEXT, "ECS: the role the apps' tasks run as", needed_by="ecs"
    )
    ecs_execution_role_arn: str = setting(
        "EMPIRE_ECS_EXECUTION_ROLE_ARN",
        TEXT,
        "ECS: the role that pulls images and writes logs",
        needed_by="ecs",
    )
    ecs_log_group: str = setting(
        "EMPIRE_ECS_LOG_GROUP", TEXT, "ECS: the CloudWatch log group", needed_by="ecs"
    )
    ecs_events_role_arn: str | None = setting(
        "EMPIRE_ECS_EVENTS_ROLE_ARN",
        OPTIONAL_TEXT,
        "ECS: the role EventBridge assumes to run cron processes (a deploy with a cron process "
        "fails without it)",
    )
    ecs_allowed_task_roles: tuple[str, ...] = setting(
        "EMPIRE_ECS_ALLOWED_TASK_ROLES",
        LIST,
        "ECS: the task roles an app may name with its `EMPIRE_TASK_ROLE_ARN` config var, as "
        "ARNs or fnmatch patterns (`arn:aws:iam::123456789012:role/apps/*`)",
        shown="none: no app chooses its task role",
    )
    ecs_deploy_timeout: float = setting(
        "EMPIRE_ECS_DEPLOY_TIMEOUT",
        SECONDS,
        "ECS: time a deploy's ECS deployments have to complete before the changed services are "
        "put back on their previous release",
        "600",
    )
    messages_required: bool = setting(
        "EMPIRE_MESSAGES_REQUIRED",
        BOOLEAN,
        "Require a commit message (`-m`) on every change",
        "false",
    )
    max_body_bytes: int = setting(
        "EMPIRE_MAX_BODY_BYTES",
        integer("use a number of bytes"),
        "Request bodies above this many bytes get 413",
        str(1 << 20),
    )
    rate_limit_per_hour: int = setting(
        "EMPIRE_RATE_LIMIT_PER_HOUR",
        integer("use a number, 0 = no limit"),
        "Requests per token and hour (`RateLimit-Remaining`); 0 = no limit",
        "4500",
    )
    streams_per_token: int = setting(
        "EMPIRE_STREAMS_PER_TOKEN",
        integer("use a number, 0 = no bound"),
        "Log streams, deploys and attached runs one API token may have open at once (429 "
        "beyond); 0 = no bound",
        "10",
    )
    max_connections: int = setting(
        "EMPIRE_MAX_CONNECTIONS",
        integer("use a number, at least 1", minimum=1),
        "Connections the API server holds at once; one more is answered 503 and closed",
        "1000",
    )
    header_timeout: float = setting(
        "EMPIRE_HEADER_TIMEOUT",
        SECONDS,
        "Time a request's headers may take to arrive (else 408, and the connection is closed)",
        "15",
    )
    body_timeout: float = setting(
        "EMPIRE_BODY_TIMEOUT",
        SECONDS,
        "Time a request's body may take to arrive (else 408, and the connection is closed)",
        "30",
    )
    token_ttl: timedelta | None = setting(
        "EMPIRE_TOKEN_TTL_DAYS", DAYS, "API tokens expire after this; 0 = never", "30"
    )
    encryption_keys: tuple[str, ...] = setting(
        "EMPIRE_ENCRYPTION_KEY",
        LIST,
        "Fernet keys that encrypt config vars at rest, newest first, comma-separated "
        "(`empire keys generate`, `empire keys rotate`); required off loopback",
        shown="on loopback: a key made once in the data dir (0600)",
        secret=True,
    )
    # Signs what Empire hands out (API tokens are stored as HMACs under it, webhook signatures
    # derive from it). On loopback a missing one is made once in the data dir (wiring).
    secret_key: str | None = setting(
        "EMPIRE_SECRET_KEY",
        SECRET,
        "Random characters (`empire keys generate`). API tokens are stored as HMAC-SHA256 "
        "under it, so **changing it invalidates every token** (reissue them with `empire "
        "tokens create`); webhook signatures derive from it. Required off loopback: the "
        "server refuses to start without it and `EMPIRE_ENCRYPTION_KEY`, even if a loopback "
        "run left keys in the data dir",
        shown="on loopback: a key made once in the data dir (0600)",
        secret=True,
    )
    tls_cert: Path | None = setting(
        "EMPIRE_TLS_CERT",
        PATH,
        "A PEM certificate chain: the API serves HTTPS only. With `EMPIRE_TLS_KEY` or not at all",
    )
    tls_key: Path | None = setting(
        "EMPIRE_TLS_KEY",
        PATH,
        "The PEM private key of `EMPIRE_TLS_CERT`",
    )
    events_stdout: bool = setting(
        "EMPIRE_EVENTS_STDOUT",
        BOOLEAN,
        "`empire server` writes each event as a JSON line to stdout; `false` logs its "
        "sentence instead",
        "true",
    )
    webhooks: tuple[str, ...] = setting(
        "EMPIRE_WEBHOOKS",
        WEBHOOKS,
        "URLs (comma-separated) every event is POSTed to, signed",
    )
    webhook_secret: str | None = setting(
        "EMPIRE_WEBHOOK_SECRET",
        OPTIONAL_TEXT,
        "The HMAC key of webhook signatures",
        shown="derived from `EMPIRE_SECRET_KEY` (`empire webhooks secret` prints it)",
        secret=True,
    )
    webhook_attempts: int = setting(
        "EMPIRE_WEBHOOK_ATTEMPTS",
        integer("use a number, at least 1", minimum=1),
        "Attempts per webhook delivery",
        "8",
    )
    webhook_backoff: float = setting(
        "EMPIRE_WEBHOOK_BACKOFF_SECONDS",
        SECONDS,
        "The first webhook retry's delay, doubled after each failure (capped at 10 min, "
        "plus jitter)",
        "1",
    )
    metrics: bool = setting(
        "EMPIRE_METRICS",
        BOOLEAN,
        "Collect metrics: `GET /metrics` (Prometheus) and each app's figures (`emp metrics`)",
        "true",
    )
    metrics_token: str | None = setting(
        "EMPIRE_METRICS_TOKEN",
        SECRET,
        "A Bearer token that may read `/metrics` (a scraper's), besides global admins' tokens",
        shown="none: admins' tokens only",
        secret=True,
    )
    metrics_allow: tuple[str, ...] = setting(
        "EMPIRE_METRICS_ALLOW",
        NETWORKS,
        "Addresses (CIDRs, comma-separated) that may read `/metrics` without a token: the "
        "client's address as the API sees it (a proxy in front is its address)",
        shown="none",
    )
    metrics_interval: float = setting(
        "EMPIRE_METRICS_INTERVAL",
        INTERVAL,
        "Time between reads of the engine for CPU, memory, restarts and counts per process "
        "(and of the backlogs); a scrape reads only what the last round found",
        "15",
    )
    drains_allow_local: bool = setting(
        "EMPIRE_DRAINS_ALLOW_LOCAL",
        BOOLEAN,
        "Allow log drains at a loopback or link-local address (`syslog://127.0.0.1:514`, "
        "`localhost`, `169.254.169.254`), or a name that resolves to one; never Empire's own API",
        "false",
    )
    drains_ca_file: Path | None = setting(
        "EMPIRE_DRAINS_CA_FILE",
        PATH,
        "A PEM file of the CAs that `syslog+tls://` and `https://` drains' certificates are "
        "verified against, instead of the system's",
    )
    failpoints: tuple[str, ...] = setting(
        "EMPIRE_FAILPOINTS",
        FAILPOINT_NAMES,
        "Tests only: pause at these points of a deploy so the fault tier can kill -9 there "
        "(`empire.failpoints`)",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read every EMPIRE_* setting; raise Invalid naming each bad value."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        problems: list[str] = []
        for attribute, var in variables():
            text = env.get(var.name, "").strip()
            if not text:
                text = var.derive(env, values) if var.derive else var.default or ""
            try:
                values[attribute] = var.kind.read(text)
            except Refused as refused:
                problems.append(refused.about(var.name, text))
        problems += _cross_checks(env, values)
        if problems:
            raise Invalid("invalid settings: " + "; ".join(problems))
        return cls(**values)

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


def variables() -> list[tuple[str, Var]]:
    """Every (attribute, variable) of `Settings`, in declaration order."""
    return [(f.name, _var(f)) for f in fields(Settings)]


def _var(f: Field[Any]) -> Var:
    var = f.metadata["var"]
    assert isinstance(var, Var), f"Settings.{f.name} is not declared with setting()"
    return var


# What the ECS scheduler cannot start without.
ECS_REQUIRED = tuple(var.name for _, var in variables() if var.needed_by == "ecs")


def _cross_checks(env: Mapping[str, str], values: Mapping[str, Any]) -> list[str]:
    """The rules that involve more than one setting."""
    problems = []
    scheduler = values.get("scheduler")
    missing = [
        var.name
        for attribute, var in variables()
        if var.needed_by and var.needed_by == scheduler and not values.get(attribute)
    ]
    if missing:
        problems.append(
            f"EMPIRE_SCHEDULER={scheduler} needs {', '.join(missing)} "
            "(set them, or choose another EMPIRE_SCHEDULER)"
        )
    if values.get("router") == "caddy" and scheduler and scheduler not in ENGINE_SCHEDULERS:
        problems.append(
            f"EMPIRE_ROUTER=caddy runs on the Docker and Swarm schedulers, not with "
            f"EMPIRE_SCHEDULER={scheduler} (unset EMPIRE_ROUTER: ECS routes through its own "
            "load balancers)"
        )
    if (values.get("tls_cert") is None) != (values.get("tls_key") is None):
        given, absent = (
            ("EMPIRE_TLS_CERT", "EMPIRE_TLS_KEY")
            if values.get("tls_cert")
            else ("EMPIRE_TLS_KEY", "EMPIRE_TLS_CERT")
        )
        problems.append(
            f"{given} is set but {absent} is not (TLS needs both: the certificate chain "
            "and its private key, as PEM files)"
        )
    return problems


def markdown_table() -> str:
    """The README's settings table: one row per variable, in declaration order."""
    rows = ["| Variable | Type | Default | Meaning |", "|---|---|---|---|"]
    for _, var in variables():
        meaning = var.doc + (
            f" (required with `EMPIRE_SCHEDULER={var.needed_by}`)" if var.needed_by else ""
        )
        cells = (f"`{var.name}`", var.kind.shown, var.shown_default(), meaning)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def main(argv: Sequence[str]) -> int:
    """`python -m empire.settings --markdown`: print the README's table."""
    if list(argv) != ["--markdown"]:
        sys.stderr.write("usage: python -m empire.settings --markdown  (the README's table)\n")
        return 2
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
