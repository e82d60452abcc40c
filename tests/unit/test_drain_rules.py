"""Which URLs may be a drain, and the frames drains get."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from empire.drains.frames import escape, frame, parse_process_line
from empire.drains.rules import DrainPolicy, Target, same_drain
from empire.errors import Invalid

POLICY = DrainPolicy(
    own=frozenset({("empire.example.com", 8080), ("127.0.0.1", 8080), ("*", 8080)})
)
AT = datetime(2026, 11, 26, 10, 0, 0, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("syslog://logs.example.com:514", Target("syslog", "logs.example.com", 514)),
        ("SYSLOG+TLS://Logs.Example.com:6514/", Target("syslog+tls", "logs.example.com", 6514)),
        ("https://u:p@logs.example.com/in?t=1", Target("https", "logs.example.com", 443)),
        ("https://10.0.0.5:8443/x", Target("https", "10.0.0.5", 8443)),  # internal: allowed
        ("syslog://[fd00::5]:514", Target("syslog", "fd00::5", 514)),
        ("syslog://syslog.internal:514", Target("syslog", "syslog.internal", 514)),
        ("https://empire.example.com/", Target("https", "empire.example.com", 443)),
    ],
)
def test_good_urls(url: str, target: Target) -> None:
    assert POLICY.check(url) == target


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://logs.example.com", "unknown drain scheme ftp://"),
        ("http://logs.example.com/", "travel in clear: use https://"),
        ("logs.example.com:514", "unknown drain scheme"),
        ("syslog://:514", "has no host"),
        ("https:///path", "has no host"),
        ("syslog://logs.example.com", "needs a port"),
        ("syslog://user:secret@logs.example.com:514", "cannot carry credentials"),
        ("syslog+tls://token@logs.example.com:6514", "cannot carry credentials"),
        ("syslog://logs.example.com:514/path", "without a path"),
        ("syslog://logs.example.com:99999", "Port out of range"),
        ("syslog://127.0.0.1:514", "loopback"),
        ("syslog://127.1:514", "invalid drain host"),
        ("syslog://2130706433:514", "invalid drain host"),
        ("syslog://0x7f000001:514", "invalid drain host"),
        ("syslog://017700000001:514", "invalid drain host"),
        ("syslog://[::1]:514", "loopback"),
        ("syslog://[::ffff:127.0.0.1]:514", "loopback"),
        ("https://169.254.169.254/latest", "link-local"),
        ("syslog://0.0.0.0:514", "unspecified"),
        ("syslog://localhost:514", "localhost"),
        ("syslog://x.localhost:514", "localhost"),
        ("https://logs.example.com/a b", "spaces or control"),
        ("https://logs.example.com/\x00", "spaces or control"),
        ("https://empire.example.com:8080/", "Empire's own API"),
        ("https://" + "a" * 2100 + ".com/", "1 to 2048"),
        ("https://-bad-.example.com/", "invalid drain host"),
    ],
)
def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(Invalid, match=None) as error:
        POLICY.check(url)
    assert why in error.value.message


def test_local_drains_when_allowed_but_never_the_api() -> None:
    allowing = DrainPolicy(allow_local=True, own=POLICY.own)
    assert allowing.check("syslog://127.0.0.1:514").port == 514
    assert allowing.check("syslog://localhost:6514").host == "localhost"
    for url in ("syslog://127.0.0.1:8080", "https://localhost:8080/", "https://[::1]:8080/"):
        with pytest.raises(Invalid, match="Empire's own API"):
            allowing.check(url)


def test_same_drain_ignores_the_case_of_scheme_and_host() -> None:
    assert same_drain("SYSLOG://Logs.Example.com:514", ["syslog://logs.example.com:514"])
    assert not same_drain("https://logs.example.com/A", ["https://logs.example.com/a"])


def test_a_frame_is_rfc5424_octet_counted() -> None:
    data = frame("d.abc", "acme-inc", "web.1", "Listening on 80", AT)
    length, _, body = data.partition(b" ")
    assert int(length) == len(body)
    assert (
        body == b"<190>1 2026-11-26T10:00:00.123456+00:00 d.abc acme-inc web.1 - - Listening on 80"
    )


def test_a_frame_escapes_and_bounds_the_text_and_fields() -> None:
    body = frame("d.abc", "acme", "we b\x00", "a\nb\x1b" + "é" * 10_000, AT).partition(b" ")[2]
    head, _, message = body.partition(b" - - ")
    assert head.endswith(b" acme we_b_")
    assert message.startswith(b"a\\x0ab\\x1b")
    assert len(message) <= 10_000
    message.decode()  # a character cut in two is dropped, not left half
    assert escape("tab\tkept") == "tab\tkept"


def test_process_lines_are_parsed() -> None:
    now = datetime.now(UTC)
    source, text, at = parse_process_line("2026-11-26T10:00:00Z acme[web.1]: hi: there", now) or (
        "",
        "",
        now,
    )
    assert (source, text, at) == ("web.1", "hi: there", datetime(2026, 11, 26, 10, tzinfo=UTC))
    assert parse_process_line("", now) is None
    assert parse_process_line("garbage", now) is None
    assert parse_process_line("not-a-time acme[release.3]: x", now) == ("release.3", "x", now)
