"""Every `emp` command, one module per area; importing this package registers them."""

from emp.commands import (
    apps,
    audit,
    auth,
    config,
    deploy,
    domains,
    dynos,
    logs,
    meta,
    releases,
)

__all__ = [
    "apps",
    "audit",
    "auth",
    "config",
    "deploy",
    "domains",
    "dynos",
    "logs",
    "meta",
    "releases",
]
