"""Transcripts: env, get, set, unset, env-load."""

from __future__ import annotations

from pathlib import Path

from support.stack import Stack

from .conftest import Emp


def test_set_env_get_unset(acme: Emp) -> None:
    assert acme("env") == (0, "", "")
    assert acme("set", "FOO=bar", "EMPTY=", "EQ=a=b") == (
        0,
        "",
        "Set env vars and restarted acme.\n",
    )
    assert acme("env") == (0, "EMPTY=\nEQ=a=b\nFOO=bar\n", "")
    assert acme("get", "EQ") == (0, "a=b\n", "")
    assert acme("unset", "FOO", "EMPTY") == (0, "", "Unset env vars and restarted acme.\n")
    assert acme("env") == (0, "EQ=a=b\n", "")


def test_env_prints_values_as_they_are_like_empire(acme: Emp) -> None:
    """Empire's emp printed `KEY=value` (fmt "%s=%s"): scripts split each line at the first =."""
    acme("set", 'MULTI=line one\nline "two"\ttab', "UNICODE=café", "URL=postgres://u:p@db/x?a=b")
    assert acme("env") == (
        0,
        'MULTI=line one\nline "two"\ttab\nUNICODE=café\nURL=postgres://u:p@db/x?a=b\n',
        "",
    )


def test_env_dotenv_quotes_like_go(acme: Emp) -> None:
    acme("set", 'MULTI=line one\nline "two"\ttab', "UNICODE=café")
    assert acme("env", "--dotenv") == (
        0,
        'MULTI="line one\\nline \\"two\\"\\ttab"\nUNICODE="café"\n',
        "",
    )
    assert acme("get", "MULTI") == (0, 'line one\nline "two"\ttab\n', "")


def test_env_of_a_release(acme: Emp) -> None:
    acme("set", "FOO=one")
    acme("set", "FOO=two")
    assert acme("env", "-v", "v2") == (0, "FOO=one\n", "")
    assert acme("env", "--version", "3") == (0, "FOO=two\n", "")
    assert acme("env", "--dotenv", "-v", "v2") == (0, 'FOO="one"\n', "")
    assert acme("get", "FOO", "-v", "v2") == (0, "one\n", "")
    assert acme("env", "--json") == (0, '{\n  "FOO": "two"\n}\n', "")


def test_get_a_missing_key(acme: Emp) -> None:
    assert acme("get", "NOPE") == (1, "", "error: No such key as 'NOPE'\n")


def test_set_bad_format(acme: Emp) -> None:
    assert acme("set", "FOO") == (1, "", "error: bad format: `FOO`. See 'emp help set'\n")
    assert acme("set") == (
        2,
        "",
        "Usage: emp set [-a <app or remote>] [-m <message>] <name>=<value>...\n"
        "Use 'emp help set' for more information.\n",
    )


def test_set_an_invalid_name_shows_the_server_reason(acme: Emp) -> None:
    code, out, err = acme("set", "1BAD=x")
    assert (code, out) == (1, "")
    assert err.startswith("error: invalid config var name '1BAD'")


def test_set_before_any_release_makes_no_release(emp: Emp, stack: Stack) -> None:
    emp("create", "acme")
    assert emp("set", "-a", "acme", "FOO=bar") == (0, "", "Set env vars and restarted acme.\n")
    assert emp("releases", "-a", "acme") == (0, "", "")
    assert emp("env", "-a", "acme") == (0, "FOO=bar\n", "")


def test_env_load_a_file(acme: Emp, tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_text(
        "# settings\n"
        "export PLAIN=value # comment\n"
        'CERT="-----BEGIN-----\n'
        "abc\\tdef\n"
        '-----END-----"\n'
        "SINGLE='keep $HOME # here'\n"
        "YAML: style\n"
    )
    assert acme("env-load", str(path)) == (
        0,
        "",
        f"Updated env vars from {path} and restarted acme.\n",
    )
    assert acme("env", "--dotenv") == (
        0,
        'CERT="-----BEGIN-----\\nabc\\tdef\\n-----END-----"\n'
        'PLAIN="value"\n'
        'SINGLE="keep $HOME # here"\n'
        'YAML="style"\n',
        "",
    )


def test_env_round_trips_through_env_load(acme: Emp) -> None:
    acme("set", 'A=x\ny "z"\\', "B=é\u200b")
    exported = acme("env", "--dotenv").out
    acme("unset", "A", "B")
    assert acme("env-load", "-", stdin=exported) == (
        0,
        "",
        "Updated env vars from - and restarted acme.\n",
    )
    assert acme("env", "--dotenv").out == exported


def test_env_load_errors(acme: Emp, tmp_path: Path) -> None:
    bad = tmp_path / "bad.env"
    bad.write_text("OK=1\nnot a pair\n")
    assert acme("env-load", str(bad)) == (
        1,
        "",
        f"error: {bad}:2: expected KEY=value, got 'not a pair'\n",
    )
    bad.write_text('A="open\n')
    assert acme("env-load", str(bad)) == (
        1,
        "",
        f'error: {bad}:1: unterminated " quoted value\n',
    )
    missing = tmp_path / "missing.env"
    assert acme("env-load", str(missing)) == (
        1,
        "",
        f"error: cannot read {missing}: No such file or directory\n",
    )
    assert acme("env-load", "-", stdin="# nothing\n") == (
        1,
        "",
        "error: no env vars found in -\n",
    )
