"""Domains and certificates: domains, domain-add, domain-remove, cert-attach, ssl*."""

from __future__ import annotations

import os

from emp.registry import check_args, command, option
from emp.session import Fail, Session


@command(
    "domains",
    "list domains",
    """
Lists domains. An app with at least one domain is public: the router
sends requests for those hostnames to its web processes.

Examples:

    $ emp domains
    www.example.com
    example.com
""",
    app="needs",
    json=True,
)
def domains(s: Session, args: tuple[str, ...]) -> None:
    """List an app's domains."""
    check_args(args, 0, 0)
    items = s.client.domains(s.app())
    if s.json:
        s.print_json(items)
        return
    for domain in items:
        s.out(str(domain.get("hostname") or ""))


@command(
    "domain-add <domain>",
    "add a domain",
    """
Adds a domain to an app, which makes the app public.

Example:

    $ emp domain-add www.example.com
    Added www.example.com to myapp.
""",
    app="needs",
    message=True,
)
def domain_add(s: Session, args: tuple[str, ...]) -> None:
    """Add a domain."""
    name = s.app()
    check_args(args, 1, 1)
    s.write(lambda message: s.client.add_domain(name, args[0], message))
    s.err(f"Added {args[0]} to {name}.")


@command(
    "domain-remove <domain>",
    "remove a domain",
    """
Removes a domain from an app. Without domains the app is internal again.

Example:

    $ emp domain-remove www.example.com
    Removed www.example.com from myapp.
""",
    app="needs",
    message=True,
)
def domain_remove(s: Session, args: tuple[str, ...]) -> None:
    """Remove a domain."""
    name = s.app()
    check_args(args, 1, 1)
    s.write(lambda message: s.client.remove_domain(name, args[0], message))
    s.err(f"Removed {args[0]} from {name}.")


@command(
    "cert-attach <name, ARN or cert.pem [key.pem]>",
    "attach a certificate to an app",
    """
Attaches an SSL certificate to one of an app's processes (web unless
-p is given); the current release is rolled out again with it. On the
Docker and Swarm backends give PEM files: the certificate chain and its
private key (or one file holding both); the router then serves the app's
domains over TLS with it. On ECS give a certificate name or ARN.

Options:

    -p <process>  the process to attach the certificate to (default web)

Examples:

    $ emp cert-attach myServerCertificate -a myapp
    $ emp cert-attach arn:aws:acm:us-east-1:123456789012:certificate/abc -p api
    $ emp cert-attach www.example.com.crt www.example.com.key -a myapp
""",
    app="needs",
    message=True,
    options=[option("-p", "--process", default="web")],
)
def cert_attach(s: Session, args: tuple[str, ...], process: str) -> None:
    """Attach a certificate to a process."""
    check_args(args, 1, 2)
    name = s.app()
    cert = _pem_files(args) if len(args) == 2 or os.path.isfile(args[0]) else args[0]
    s.write(lambda message: s.client.attach_cert(name, cert, process, message))


def _pem_files(paths: tuple[str, ...]) -> str:
    """Read PEM files (a chain and a key, or one file with both) into one text."""
    texts = []
    for path in paths:
        try:
            with open(path, encoding="ascii") as f:
                texts.append(f.read().strip())
        except (OSError, UnicodeDecodeError) as exc:
            raise Fail(f"cannot read {path}: {exc}") from exc
    return "\n".join(texts) + "\n"


def _ssl_removed(s: Session, args: tuple[str, ...]) -> None:
    raise Fail("the ssl commands have been replaced with `cert-attach`")


for _usage in ("ssl", "ssl-cert-add <certfile> <keyfile>", "ssl-destroy", "ssl-cert-rollback"):
    command(_usage, "removed: use cert-attach", app="optional", hidden=True)(_ssl_removed)
