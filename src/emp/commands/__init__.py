"""Every `emp` command, one module per area; importing this package registers them."""

from emp.commands import (
    access,
    apps,
    audit,
    auth,
    config,
    deploy,
    domains,
    drains,
    dynos,
    logs,
    meta,
    releases,
    teams,
)

__all__ = [
    "access",
    "apps",
    "audit",
    "auth",
    "config",
    "deploy",
    "domains",
    "drains",
    "dynos",
    "logs",
    "meta",
    "releases",
    "teams",
]
