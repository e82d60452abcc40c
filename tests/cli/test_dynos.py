"""Transcripts: ps, scale, restart, run."""

from __future__ import annotations

import json

from support.stack import FrozenClock, Stack

from .conftest import Emp

PROCFILE = b"web: ./bin/web\nworker: ./bin/worker --queue default\nrake: rake\n"
SCALE_USAGE = (
    "Usage: emp scale [-a <app or remote>] [-m <message>] [-l] <type>=[<qty>]:[<size>]...\n"
    "Use 'emp help scale' for more information.\n"
)


def _multi(emp: Emp, stack: Stack) -> Emp:
    stack.images.add("remind101/multi:v1", PROCFILE)
    emp("deploy", "remind101/multi:v1")
    emp.env["EMPAPP"] = "multi"
    return emp


def test_ps(emp: Emp, stack: Stack, clock: FrozenClock) -> None:
    _multi(emp, stack)
    emp("scale", "web=2", "worker=1")
    emp("run", "-d", "bash")
    clock.advance(minutes=5)
    # the fake scheduler reports its services as started at the deploy, like the one-off
    assert emp("ps") == (
        0,
        "v1.run.1     fake  1X  up   5m  bash\n"
        'v1.web.1     fake  1X  up   5m  "./bin/web"\n'
        'v1.web.2     fake  1X  up   5m  "./bin/web"\n'
        'v1.worker.1  fake  1X  up   5m  "./bin/worker --queue default"\n',
        "",
    )
    assert emp("dynos", "web") == (
        0,
        'v1.web.1  fake  1X  up   5m  "./bin/web"\nv1.web.2  fake  1X  up   5m  "./bin/web"\n',
        "",
    )
    assert emp("ps", "v1.worker.1").out.startswith("v1.worker.1  fake")
    names = [d["name"] for d in json.loads(emp("ps", "--json").out)]
    assert names == ["v1.run.1", "v1.web.1", "v1.web.2", "v1.worker.1"]


def test_ps_shows_shell_commands_readably(emp: Emp, stack: Stack) -> None:
    """Empire's emp quoted with Go's json.Marshal: `&&` came out as `\\u0026\\u0026`."""
    stack.images.add("remind101/shell:v1", b"web: ./bin/setup && ./bin/web > /tmp/log 2>&1 <x\n")
    emp("deploy", "remind101/shell:v1")
    [dyno] = json.loads(emp("ps", "-a", "shell", "--json").out)
    assert dyno["command"] == "./bin/setup && ./bin/web > /tmp/log 2>&1 <x"  # the API: plain
    assert emp("ps", "-a", "shell") == (
        0,
        'v1.web.1  fake  1X  up   0s  "./bin/setup && ./bin/web > /tmp/log 2>&1 <x"\n',
        "",
    )


def test_ps_of_an_app_without_release(emp: Emp) -> None:
    emp("create", "acme")
    assert emp("ps", "-a", "acme") == (0, "", "")


def test_scale(emp: Emp, stack: Stack) -> None:
    _multi(emp, stack)
    assert emp("scale", "worker=5:2X", "web=2") == (
        0,
        "",
        "Scaled multi to web=2:1X, worker=5:2X.\n",
    )
    assert emp("scale", "-l") == (0, "", "rake=0:1X web=2:1X worker=5:2X\n")
    assert emp("scale", "web=px") == (0, "", "Scaled multi to web=2:PX.\n")


def test_scale_without_quantity_keeps_the_quantity(emp: Emp, stack: Stack) -> None:
    _multi(emp, stack)
    emp("scale", "web=3")
    assert emp("scale", "web=:2X") == (0, "", "Scaled multi to web=3:2X.\n")


def test_scale_raw_size_with_nproc(emp: Emp, stack: Stack) -> None:
    _multi(emp, stack)
    assert emp("scale", "worker=1:256:1gb:nproc=64") == (
        0,
        "",
        "Scaled multi to worker=1:256:1.00gb:nproc=64.\n",
    )
    worker = next(p for p in stack.empire.formation("multi", by=stack.user) if p.name == "worker")
    assert worker.size is not None and worker.size.nproc == 64


def test_scale_json(emp: Emp, stack: Stack) -> None:
    _multi(emp, stack)
    code, out, err = emp("scale", "web=2", "--json")
    assert (code, err) == (0, "Scaled multi to web=2:1X.\n")
    assert [(f["type"], f["quantity"]) for f in json.loads(out)] == [("web", 2)]
    listed = json.loads(emp("scale", "-l", "--json").out)
    assert [f["type"] for f in listed] == ["rake", "web", "worker"]


def test_scale_argument_errors(acme: Emp) -> None:
    assert acme("scale") == (2, "", SCALE_USAGE)
    assert acme("scale", "web") == (
        2,
        "",
        "error: invalid scale argument 'web': use <type>=[<qty>]:[<size>]\n" + SCALE_USAGE,
    )
    assert acme("scale", "web=1X:5") == (
        2,
        "",
        "error: invalid quantity '1X' in 'web=1X:5': use a whole number\n" + SCALE_USAGE,
    )
    assert acme("scale", "web=1", "web=2") == (
        2,
        "",
        "error: process type 'web' specified more than once\n" + SCALE_USAGE,
    )


def test_scale_errors_from_the_server(acme: Emp) -> None:
    assert acme("scale", "worker=1") == (
        1,
        "",
        "error: Couldn't find that formation: no process type 'worker' in acme v1 "
        "(process types: web)\n",
    )
    code, _, err = acme("scale", "web=1:huge")
    assert code == 1 and err.startswith("error: ") and "HUGE" in err


def test_restart(acme: Emp, stack: Stack) -> None:
    app_id = stack.empire.app("acme", by=stack.user).id
    assert acme("restart") == (0, "", "Restarted all dynos for acme.\n")
    assert acme("restart", "web") == (0, "", "Restarted web dynos for acme.\n")
    assert stack.scheduler.restarts == [(app_id, None), (app_id, "web")]
    acme("run", "-d", "sleep 60")
    assert acme("restart", "v1.run.1") == (0, "", "Restarted v1.run.1 dyno for acme.\n")
    assert stack.scheduler.stopped == ["v1.run.1"]
    code, out, err = acme("restart", "v1.run.9")
    assert (code, out) == (1, "")
    assert err.startswith("error: ") and "'v1.run.9'" in err and err.count("\n") == 1


def test_run_detached(acme: Emp, stack: Stack) -> None:
    assert acme("run", "-d", "-s", "2x", "--", "./bin/migrate", "--all", "it's") == (
        0,
        "",
        "Ran `./bin/migrate --all it's` on acme as v1.run.1, detached.\n",
    )
    sent = [e.text for e in stack.events.events if e.kind == "run"]
    assert sent == ["alice started running `./bin/migrate --all 'it'\"'\"'s'` (detached) on acme"]
    assert acme("run", "-d", "rake db:migrate") == (
        0,
        "",
        "Ran `rake db:migrate` on acme as v1.run.2, detached.\n",
    )
    sizes = [t.size for t in stack.scheduler.runs[stack.empire.app("acme", by=stack.user).id]]
    assert [s.cpu_shares if s else None for s in sizes] == [512, 256]


def test_run_does_not_parse_the_command_s_flags(acme: Emp) -> None:
    assert acme("run", "-d", "ls", "-la", "/") == (
        0,
        "",
        "Ran `ls -la /` on acme as v1.run.1, detached.\n",
    )


def test_run_takes_emp_s_flags_after_the_command_as_empire_s_emp_did(
    emp: Emp, stack: Stack
) -> None:
    """`emp run -d migration -a acme-inc` worked with Empire's emp (pflag parses flags
    anywhere); the command's own flags still pass through."""
    stack.images.add("remind101/acme-inc:v1", b"web: ./bin/web\nmigration: ./bin/migrate\n")
    emp("deploy", "remind101/acme-inc:v1")
    assert emp("run", "-d", "migration", "-a", "acme-inc") == (
        0,
        "",
        "Ran `./bin/migrate` on acme-inc as v1.run.1, detached.\n",
    )
    assert emp("run", "migration", "--app=acme-inc", "-d", "-s", "2X", "-m", "why") == (
        0,
        "",
        "Ran `./bin/migrate` on acme-inc as v1.run.2, detached.\n",
    )
    app_id = stack.empire.app("acme-inc", by=stack.user).id
    sizes = [t.size.cpu_shares if t.size else None for t in stack.scheduler.runs[app_id]]
    assert sizes == [256, 512]  # the process's 1X, then -s 2X
    assert emp.requests[-1].headers["commit-message"] == "why"
    # the command's own flags: anything emp does not know, and everything after --
    assert emp("run", "-a", "acme-inc", "sh", "-c", "ls -la", "-la", "--all", "-d") == (
        0,
        "",
        "Ran `sh -c ls -la -la --all` on acme-inc as v1.run.3, detached.\n",
    )
    assert json.loads(emp.requests[-1].content) == {
        "command": "sh -c 'ls -la' -la --all",
        "attach": False,
    }
    assert emp("run", "-d", "psql", "-a", "acme-inc", "--", "-d", "mydb", "-a") == (
        0,
        "",
        "Ran `psql -d mydb -a` on acme-inc as v1.run.4, detached.\n",
    )
    assert emp("run", "-a", "acme-inc", "-d", "--", "grep", "-a", "-d", "x") == (
        0,
        "",
        "Ran `grep -a -d x` on acme-inc as v1.run.5, detached.\n",
    )


def test_run_refuses_a_flag_given_twice(acme: Emp) -> None:
    usage = (
        "Usage: emp run [-a <app or remote>] [-m <message>] [-s <size>] [-d] "
        "<command> [<argument>...]\n"
        "Use 'emp help run' for more information.\n"
    )
    assert acme("run", "-d", "-a", "acme", "grep", "-a", "x") == (
        2,
        "",
        "error: flag --app given more than once: to pass it to the command, put the command "
        "after --\n" + usage,
    )
    assert acme("run", "-d", "ls", "-s") == (2, "", "error: flag needs an argument: -s\n" + usage)


def test_run_needs_a_command(acme: Emp) -> None:
    assert acme("run", "-d") == (
        2,
        "",
        "Usage: emp run [-a <app or remote>] [-m <message>] [-s <size>] [-d] "
        "<command> [<argument>...]\n"
        "Use 'emp help run' for more information.\n",
    )
