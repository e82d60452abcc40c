"""Transcripts: create, apps, info, rename, destroy, maintenance."""

from __future__ import annotations

import json

from support.stack import FrozenClock, Stack

from .conftest import Emp

USAGE_INFO = "Usage: emp info [-a <app or remote>]\nUse 'emp help info' for more information.\n"


def test_create(emp: Emp) -> None:
    assert emp("create", "acme") == (0, "", "Created acme.\n")
    assert emp("create", "acme") == (1, "", "error: Name acme is already taken\n")


def test_create_with_ignored_region_and_org(emp: Emp) -> None:
    assert emp("create", "-r", "eu", "-o", "personal", "--http-git", "acme") == (
        0,
        "",
        "Created acme.\n",
    )


def test_create_without_a_name_is_a_usage_error(emp: Emp) -> None:
    assert emp("create") == (
        2,
        "",
        "error: no app name given: emp create <name>\n"
        "Usage: emp create [-m <message>] [-r <region>] [-o <org>] [--http-git] [<name>]\n"
        "Use 'emp help create' for more information.\n",
    )


def test_create_reports_the_server_reason_for_a_bad_name(emp: Emp) -> None:
    code, out, err = emp("create", "Bad_Name")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "Bad_Name" in err


def test_apps_sorted_with_certs_and_time(emp: Emp, clock: FrozenClock) -> None:
    assert emp("apps") == (0, "", "")
    clock.advance(hours=1, minutes=5)
    emp("create", "zeta")
    emp("deploy", "-a", "zeta", "remind101/zeta:v1")
    emp("create", "acme")
    emp("cert-attach", "-a", "acme", "acme-cert")
    emp("cert-attach", "-a", "acme", "-p", "api", "api-cert")
    assert emp("apps") == (
        0,
        "acme  api=api-cert,web=acme-cert  Nov 26 11:05\n"
        "zeta                              Nov 26 11:05\n",
        "",
    )
    assert emp("apps", "zeta") == (0, "zeta    Nov 26 11:05\n", "")


def test_apps_older_than_360_days_show_the_year(emp: Emp, clock: FrozenClock, stack: Stack) -> None:
    emp("create", "acme")
    clock.advance(days=400)
    token = stack.empire.create_token("alice")  # the first one expired meanwhile
    emp.netrc.write_text(f"machine 127.0.0.1:8080 login alice password {token}\n")
    assert emp("apps") == (0, "acme    Nov 26  2026\n", "")


def test_apps_json(emp: Emp) -> None:
    emp("create", "acme")
    emp("create", "beta")
    code, out, err = emp("apps", "--json")
    assert (code, err) == (0, "")
    assert [a["name"] for a in json.loads(out)] == ["acme", "beta"]


def test_apps_unknown_name(emp: Emp) -> None:
    assert emp("apps", "nope") == (1, "", "error: Couldn't find that app: no app named nope\n")


def test_info(emp: Emp, stack: Stack) -> None:
    emp("create", "acme")
    app_id = stack.empire.app("acme", by=stack.user).id
    expected = f"Name: acme\nID: {app_id}\nMaintenance: disabled\nCert: \n"
    assert emp("info", "-a", "acme") == (0, expected, "")
    assert emp("info", env={"EMPAPP": "acme"}) == (0, expected, "")


def test_info_json_is_one_object(emp: Emp) -> None:
    emp("create", "acme")
    code, out, _ = emp("info", "-a", "acme", "--json")
    assert code == 0
    assert json.loads(out)["name"] == "acme"


def test_info_needs_an_app(emp: Emp) -> None:
    assert emp("info") == (
        2,
        "",
        "error: no app specified: use -a APP or set EMPAPP\n" + USAGE_INFO,
    )


def test_info_flag_wins_over_empapp(emp: Emp) -> None:
    emp("create", "acme")
    code, out, _ = emp("info", "-a", "acme", env={"EMPAPP": "other"})
    assert code == 0 and out.startswith("Name: acme\n")


def test_info_takes_no_arguments(emp: Emp) -> None:
    assert emp("info", "-a", "acme", "extra") == (2, "", USAGE_INFO)


def test_rename(emp: Emp) -> None:
    emp("create", "acme")
    emp("create", "taken")
    assert emp("rename", "acme", "acme2") == (
        0,
        "",
        "Renamed acme to acme2.\nEnsure you update your git remote URL.\n",
    )
    assert emp("rename", "acme2", "taken") == (1, "", "error: Name taken is already taken\n")
    assert emp("rename", "acme2") == (
        2,
        "",
        "Usage: emp rename [-m <message>] <oldname> <newname>\n"
        "Use 'emp help rename' for more information.\n",
    )


def test_destroy_reads_the_confirmation_from_piped_stdin(emp: Emp) -> None:
    emp("create", "acme")
    assert emp("destroy", "acme", stdin="acme\n") == (0, "", "Destroyed acme.\n")
    assert emp("apps") == (0, "", "")


def test_destroy_prompts_on_a_terminal(emp: Emp) -> None:
    emp("create", "acme")
    assert emp("destroy", "acme", stdin="acme\n", tty=True) == (
        0,
        "> ",
        'warning: This will destroy acme and its add-ons. Please type "acme" to continue:\n'
        "Destroyed acme.\n",
    )


def test_destroy_refuses_a_mismatch(emp: Emp) -> None:
    emp("create", "acme")
    assert emp("destroy", "acme", stdin="acm\n") == (
        1,
        "",
        'error: Confirmation did not match "acme".\n',
    )
    assert emp("destroy", "acme", "--confirm", "other") == (
        1,
        "",
        'error: Confirmation did not match "acme".\n',
    )
    assert emp("destroy", "acme") == (
        1,
        "",
        "error: confirmation required: type acme or pass --confirm acme\n",
    )
    assert emp("apps") == (0, "acme    Nov 26 10:00\n", "")


def test_destroy_with_confirm_flag(emp: Emp) -> None:
    emp("create", "acme")
    assert emp("destroy", "acme", "--confirm", "acme") == (0, "", "Destroyed acme.\n")
    assert emp("destroy", "acme", "--confirm", "acme") == (
        1,
        "",
        "error: Couldn't find that app: no app named acme\n",
    )


def test_maintenance(acme: Emp) -> None:
    assert acme("maintenance") == (0, "disabled\n", "")
    assert acme("maintenance-enable") == (0, "", "Enabled maintenance mode on acme.\n")
    assert acme("maintenance") == (0, "enabled\n", "")
    assert acme("ps") == (0, "", "")  # no instance runs in maintenance mode
    assert acme("maintenance-disable") == (0, "", "Disabled maintenance mode on acme.\n")
    assert acme("maintenance", "--json") == (
        0,
        '{\n  "name": "acme",\n  "maintenance": false\n}\n',
        "",
    )


def test_audit(acme: Emp) -> None:
    acme("set", "FOO=bar", "-m", "new flag")
    code, out, err = acme("audit")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == (
        "Nov 26 10:00  alice changed environment variables on acme (FOO): 'new flag'"
    )
    assert "alice created acme" in out
    events = json.loads(acme("audit", "--json", "-n", "1").out)
    assert [e["kind"] for e in events] == ["set"]
