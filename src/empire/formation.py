"""Pure rules for formations and release descriptions."""

from __future__ import annotations

import dataclasses
import hashlib
import re

from empire.errors import Invalid
from empire.model import Formation, User

APP_NAME = re.compile(r"^[a-z][a-z0-9-]{2,29}$")
TEAM_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")
CONFIG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# More instances of one process than any backend takes from one app (Heroku allows 100).
MAX_QUANTITY = 1000
# A Procfile's process names; at most a DNS label, as `<process>.<app>` is one.
PROCESS_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{0,62}$")
MAX_CERT_NAME = 2048  # an IAM or ACM ARN is well under this
HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
)


def check_app_name(name: str) -> None:
    """Raise Invalid unless `name` is a valid app name.

    Every container resolves an app's internal names (`<app>`, `<process>.<app>`) to the
    router, before the world's DNS: an app named like a top-level domain would take names
    such as `api.com` from every other app, so those names are refused."""
    if not APP_NAME.match(name):
        raise Invalid(
            f"invalid app name {name!r}: use 3 to 30 characters, lowercase letters, digits and "
            "dashes, starting with a letter (e.g. acme-inc)"
        )
    if name in TOP_LEVEL_DOMAINS:
        raise Invalid(
            f"invalid app name {name!r}: it is a top-level domain, and the app's internal names "
            f"(<process>.{name}) would hide real domains from every app: pick another name"
        )


# Wildcard bases no tenant may claim: suffixes under which unrelated parties register names
# (a curated list of the common ones; a wildcard also needs two labels after the star, which
# rules out every top-level domain).
_PUBLIC_SUFFIXES = """
    ac.uk co.uk gov.uk ltd.uk me.uk net.uk nhs.uk org.uk plc.uk police.uk sch.uk
    com.au edu.au gov.au id.au net.au org.au co.nz net.nz org.nz govt.nz ac.nz
    ac.jp co.jp ed.jp go.jp gr.jp lg.jp ne.jp or.jp ac.kr co.kr go.kr ne.kr or.kr
    com.cn edu.cn gov.cn net.cn org.cn com.hk edu.hk gov.hk net.hk org.hk
    com.tw edu.tw gov.tw net.tw org.tw com.sg edu.sg gov.sg net.sg org.sg
    com.my net.my org.my com.ph net.ph org.ph co.id or.id web.id co.th in.th or.th
    com.vn net.vn co.in net.in org.in gen.in firm.in ind.in ac.in edu.in gov.in
    co.il org.il ac.il gov.il com.tr net.tr org.tr gen.tr com.sa com.eg com.pk
    co.za org.za net.za gov.za ac.za com.ng co.ke or.ke
    com.br net.br org.br gov.br edu.br com.ar net.ar org.ar gob.ar com.mx net.mx org.mx
    gob.mx com.co net.co org.co com.pe net.pe org.pe com.ve com.uy com.ec com.bo cl.cl
    com.ua net.ua org.ua in.ua com.pl net.pl org.pl co.at or.at ac.at co.hu com.gr
    com.pt com.es nom.es org.es com.ru net.ru org.ru msk.ru spb.ru com.de co.de
    eu.com uk.com us.com co.com us.org
    github.io gitlab.io herokuapp.com herokudns.com appspot.com firebaseapp.com web.app
    cloudfront.net amazonaws.com elasticbeanstalk.com azurewebsites.net cloudapp.net
    azurestaticapps.net blogspot.com netlify.app vercel.app pages.dev workers.dev fly.dev
    onrender.com ngrok.io ngrok-free.app glitch.me repl.co readthedocs.io surge.sh
    """
PUBLIC_SUFFIXES = frozenset(_PUBLIC_SUFFIXES.split())
# Top-level domains an app must not be named after (two-letter names are no app names): the
# original generic ones, whose second-level names everybody calls, and the special-use ones.
_TOP_LEVEL_DOMAINS = """
    com net org edu gov mil int arpa info biz name pro aero coop museum mobi
    local localhost internal example invalid test onion corp lan home intranet
    """
TOP_LEVEL_DOMAINS = frozenset(_TOP_LEVEL_DOMAINS.split())
# How browsers (the WHATWG URL standard) tell an IPv4 address: the last label is a number,
# decimal, octal or 0x-hexadecimal (`127.1`, `2130706433`, `0x7f.1`, `0`).
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
_HOSTNAME_USE = "use a public DNS name such as www.example.com"


def check_hostname(hostname: str) -> None:
    """Raise Invalid unless `hostname` may be routed to an app: a valid DNS name of at least
    two labels, optionally a wildcard `*.` with at least two labels after it; not an IP
    address (in any of the forms resolvers accept), not `localhost` nor a name under it; a
    wildcard not over a public suffix (`*.co.uk`, `*.github.io`). Whether it clashes with
    another app's names is the use case's question."""
    if ":" in hostname or hostname.startswith("["):
        raise Invalid(f"{_show(hostname)} is an IP address, not a hostname: {_HOSTNAME_USE}")
    if not HOSTNAME.fullmatch(hostname):
        raise Invalid(
            f"invalid hostname {_show(hostname)}: use a DNS name such as www.example.com "
            "(lowercase letters, digits, dashes and dots)"
        )
    wildcard = hostname.startswith("*.")
    base = hostname[2:] if wildcard else hostname
    labels = base.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        raise Invalid(f"{hostname} is an IP address, not a hostname: {_HOSTNAME_USE}")
    if labels[-1] == "localhost":
        raise Invalid(f"{hostname} names this machine (localhost), not an app: {_HOSTNAME_USE}")
    if wildcard:
        if len(labels) < 2:
            raise Invalid(
                f"{hostname} is a wildcard over a whole top-level domain: a wildcard needs at "
                "least two labels after `*.`, e.g. *.example.com"
            )
        if base in PUBLIC_SUFFIXES:
            raise Invalid(
                f"{hostname} is a wildcard over the public suffix {base}, under which unrelated "
                "parties register names: use a wildcard under your own domain, e.g. "
                f"*.example.{base}"
            )
    elif len(labels) < 2:
        raise Invalid(
            f"{hostname} is a single label, which resolves only inside a network (and may be "
            f"an app's internal name): {_HOSTNAME_USE}"
        )


def internal_app(hostname: str) -> str | None:
    """The app whose internal name `hostname` would be, if there were one of that name:
    `<process>.<app>` (`<app>` alone is a single label, refused by `check_hostname`)."""
    labels = hostname.split(".")
    return labels[1] if len(labels) == 2 and labels[0] != "*" else None


def covering_wildcards(hostname: str) -> list[str]:
    """The wildcard domains a hostname is under, at any depth: for `a.b.shop.test` (or
    `*.b.shop.test`), `*.b.shop.test` (not for the wildcard itself), `*.shop.test`, `*.test`.
    A name under a wildcard another app owns is refused, and so is the reverse."""
    labels = hostname.split(".")
    first = 2 if labels[0] == "*" else 1
    return ["*." + ".".join(labels[i:]) for i in range(first, len(labels))]


def _show(text: str, limit: int = 80) -> str:
    """A value from a request, safe and short enough to put in a message."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def merge(procfile: Formation, previous: Formation | None) -> Formation:
    """Merge a new Procfile's processes with the previous release's formation.

    Existing processes keep their quantity and size; a new `web` starts with one instance,
    other new processes with none; processes gone from the Procfile are dropped.
    """
    merged: Formation = {}
    for name, process in procfile.items():
        before = (previous or {}).get(name)
        if before is not None:
            merged[name] = dataclasses.replace(process, quantity=before.quantity, size=before.size)
        else:
            quantity = 1 if name == "web" and not process.noservice and not process.cron else 0
            merged[name] = dataclasses.replace(process, quantity=quantity)
    return merged


def with_user(description: str, user: User | None, message: str | None) -> str:
    """Append Empire's ` (user)` or ` (user: 'message')` suffix."""
    if user is None:
        return description
    if message:
        return f"{description} ({user.name}: '{message}')"
    return f"{description} ({user.name})"


def config_description(changes: dict[str, str | None]) -> str:
    """Describe a config change as Empire does: `Set A, B config vars`, `Unset C config var`."""
    keys = sorted(changes)
    verb = "Unset" if any(value is None for value in changes.values()) else "Set"
    noun = "config var" if len(keys) == 1 else "config vars"
    return f"{verb} {', '.join(keys)} {noun}"


def check_certificate(cert: str) -> None:
    """Raise Invalid unless `cert` is a certificate name or ARN (PEM text is `certs.verify`'s)."""
    if not cert.strip():
        raise Invalid("no certificate given: give a name, an ARN, or PEM files (cert and key)")
    if len(cert) > MAX_CERT_NAME or not cert.isprintable():
        raise Invalid(
            f"invalid certificate name {_show(cert)}: give a name or an ARN (printable, at most "
            f"{MAX_CERT_NAME} characters), or PEM files: emp cert-attach cert.pem key.pem"
        )


def check_process_name(name: str) -> None:
    """Raise Invalid unless `name` is a process type name (as a Procfile has them)."""
    if not PROCESS_NAME.fullmatch(name):
        raise Invalid(
            f"invalid process type {_show(name)}: use 1 to 63 letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. web)"
        )


def describe_certificate(cert: str) -> str:
    """Return how a certificate is shown: names and ARNs as they are, PEM by fingerprint."""
    if "-----BEGIN" not in cert:
        return cert
    return "pem:" + hashlib.sha256(cert.encode()).hexdigest()[:16]
