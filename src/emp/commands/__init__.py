"""Every `emp` command, one module per area; importing this package registers them."""

from emp.commands import (
    access,
    apps,
    audit,
    auth,
    builds,
    config,
    deploy,
    domains,
    drains,
    dynos,
    logs,
    meta,
    metrics,
    releases,
    teams,
)

__all__ = [
    "access",
    "apps",
    "audit",
    "auth",
    "builds",
    "config",
    "deploy",
    "domains",
    "drains",
    "dynos",
    "logs",
    "meta",
    "metrics",
    "releases",
    "teams",
]
