"""Procfile parsing: standard, Heroku line and extended formats, and their errors."""

from __future__ import annotations

import pytest

from empire import procfile
from empire.errors import InvalidProcfile
from empire.model import HealthCheck, Port, Process

WEB_80 = (Port(80, 80, "http"),)


def parse_one(content: bytes, name: str = "web") -> Process:
    return procfile.parse(content)[name]


# Standard format


def test_standard() -> None:
    processes = procfile.parse(b"web: ./bin/web -p 80\nworker: ./bin/worker --queue 'a b'\n")

    assert processes == {
        "web": Process(name="web", command=("./bin/web", "-p", "80"), ports=WEB_80),
        "worker": Process(name="worker", command=("./bin/worker", "--queue", "a b")),
    }


def test_processes_keep_file_order_and_have_no_quantity_or_size() -> None:
    processes = procfile.parse(b"worker: w\nweb: x\nclock: c\n")

    assert list(processes) == ["worker", "web", "clock"]
    assert all(p.quantity == 0 and p.size is None for p in processes.values())


def test_standard_quoted_yaml_string_is_split() -> None:
    assert parse_one(b'web: "bundle exec puma -C config/puma.rb"\n').command == (
        "bundle",
        "exec",
        "puma",
        "-C",
        "config/puma.rb",
    )


def test_comments_are_ignored() -> None:
    content = b"# processes\nweb: ./bin/web # the server\n\n  # indented comment\nworker: w\n"
    processes = procfile.parse(content)

    assert processes["web"].command == ("./bin/web",)
    assert list(processes) == ["web", "worker"]


# Heroku line format (not valid YAML)


def test_line_format_command_with_colon_space() -> None:
    processes = procfile.parse(b'web: curl -H "Accept: text/plain" http://x/\nworker: w\n')

    assert processes["web"].command == ("curl", "-H", "Accept: text/plain", "http://x/")
    assert processes["web"].ports == WEB_80
    assert processes["worker"].command == ("w",)


def test_line_format_keeps_a_quoted_hash() -> None:
    assert parse_one(b"web: echo 'a #b'\n").command == ("echo", "a #b")


def test_line_format_hash_inside_a_word_is_not_a_comment() -> None:
    content = b"web: curl -H 'X: y' http://x/#frag a#b # comment\n"
    assert parse_one(content).command == ("curl", "-H", "X: y", "http://x/#frag", "a#b")


def test_values_yaml_misreads_are_read_as_written() -> None:
    processes = procfile.parse(b"clock: 10:30\non: ./bin/on\nweb: ./bin/web\n")

    assert processes["clock"].command == ("10:30",)
    assert processes["on"].command == ("./bin/on",)


def test_line_format_duplicate_process() -> None:
    with pytest.raises(InvalidProcfile, match='process "web" is defined twice'):
        procfile.parse(b"web: a: b\nweb: c: d\n")


# Extended format


EXTENDED = b"""
web:
  command: ["./bin/web", "-p", "80"]
  healthcheck: /health
  environment:
    WORKERS: 4
    DEBUG: false
    A: x
  ecs:
    placement_constraints: [{type: memberOf, expression: "attribute:x"}]
worker:
  command: ./bin/worker --queue 'high prio'
  noservice: true
clock:
  command: [sleep, 10]
  cron: "0/5 * * * ? *"
api:
  command: ./bin/api
  ports:
    - "443:8443"
    - 8080
    - "9000"
    - "5000:50": {protocol: ssl}
  healthcheck: {path: /ready, port: 8443, interval: 10s, timeout: 500ms, grace: 1m}
"""


def test_extended() -> None:
    processes = procfile.parse(EXTENDED)

    assert processes["web"] == Process(
        name="web",
        command=("./bin/web", "-p", "80"),
        ports=WEB_80,
        environment=(("A", "x"), ("DEBUG", "false"), ("WORKERS", "4")),
        healthcheck=HealthCheck(type="http", path="/health"),
    )
    assert processes["worker"] == Process(
        name="worker", command=("./bin/worker", "--queue", "high prio"), noservice=True
    )
    assert processes["clock"] == Process(
        name="clock", command=("sleep", "10"), cron="0/5 * * * ? *"
    )
    assert processes["api"].ports == (
        Port(443, 8443, "https"),
        Port(8080, 8080, "http"),
        Port(9000, 9000, "tcp"),
        Port(5000, 50, "ssl"),
    )
    assert processes["api"].healthcheck == HealthCheck(
        type="http", path="/ready", port=8443, interval=10.0, timeout=0.5, grace=60.0
    )


def test_extended_web_with_ports_keeps_them() -> None:
    web = parse_one(b"web:\n  command: x\n  ports: ['8000:80']\n")
    assert web.ports == (Port(8000, 80, "tcp"),)


def test_extended_web_with_explicit_empty_ports_has_none() -> None:
    assert parse_one(b"web: {command: x, ports: []}\n").ports == ()


def test_default_protocol_by_host_port() -> None:
    web = parse_one(b"web: {command: x, ports: ['80:5000', '8080:1', '443:2', '22:3']}\n")
    assert [p.protocol for p in web.ports] == ["http", "http", "https", "tcp"]


def test_mixed_string_and_map_processes() -> None:
    processes = procfile.parse(b"web: ./bin/web\nworker: {command: ./bin/worker}\n")
    assert processes["web"].command == ("./bin/web",)
    assert processes["worker"].command == ("./bin/worker",)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tcp", HealthCheck(type="tcp")),
        ("http", HealthCheck(type="http", path="/")),
        ("/up", HealthCheck(type="http", path="/up")),
        ("{type: tcp, port: 9000}", HealthCheck(type="tcp", port=9000)),
        ("{port: 9000}", HealthCheck(type="tcp", port=9000)),
        ("{type: http}", HealthCheck(type="http", path="/")),
        ("{path: /h, interval: 5, timeout: 1.5, grace: 0}", HealthCheck("http", "/h", 5, 1.5, 0)),
        ("{interval: '2m', timeout: '250ms', grace: '3'}", HealthCheck("tcp", "/", 120, 0.25, 3)),
    ],
)
def test_healthcheck_forms(spec: str, expected: HealthCheck) -> None:
    web = parse_one(f"web:\n  command: x\n  healthcheck: {spec}\n".encode())
    assert web.healthcheck == expected


def test_generate_from_cmd_round_trips() -> None:
    cmd = ["/bin/sh", "-c", "echo 10: yes # not a comment", "10", "true", "a b"]
    content = procfile.generate_from_cmd(cmd)

    assert content.startswith(b"web:\n  command:\n")
    web = parse_one(content)
    assert web.command == tuple(cmd)
    assert web.ports == WEB_80


def test_generate_from_an_empty_cmd_is_refused() -> None:
    with pytest.raises(InvalidProcfile):
        procfile.generate_from_cmd([])


def test_utf8_bom_is_accepted() -> None:
    assert parse_one(b"\xef\xbb\xbfweb: ./x\n").command == ("./x",)


# Errors


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "Procfile is empty"),
        (b"\n  \n# nothing here\n", "Procfile is empty"),
        (b"{}", "Procfile defines no processes"),
        (b"- web\n- worker\n", "must be a map of process name to command, got a list"),
        (b"just some text", "must be a map of process name to command, got a string"),
        (b"worker:\n", 'process "worker" has no command'),
        (b"worker: ''\n", 'process "worker" has no command'),
        (b"worker:\n  command: []\n", 'process "worker" has no command'),
        (b"worker:\n  noservice: true\n", 'process "worker" has no command'),
        (b"web: [a, b]\n", 'process "web" must be a command string or a map with a command'),
        (b"web: {command: {a: b}}\n", 'process "web": command must be a string or a list'),
        (b"web: {command: [a, [b]]}\n", 'process "web": command must be a string or a list'),
        (b'web: {command: "echo \'a"}\n', 'process "web": cannot split command'),
        (b"web: {command: ['', a]}\n", 'process "web" has no command'),
        (b"_web: x\n", 'invalid process name "_web"'),
        (b"we.b: x\n", 'invalid process name "we.b"'),
        (b"web: x\nweb: y\n", '"web" is defined twice'),
        (b"web: {command: x}\nweb: {command: y}\n", '"web" is defined twice'),
        (b"web: {command: x, noservice: maybe}\n", "noservice must be true or false"),
        (b"web: {command: x, cron: 5}\n", "cron must be a schedule string"),
        (b"web: {command: x, ports: '80'}\n", "ports must be a list"),
        (b"web: {command: x, ports: ['http']}\n", 'invalid port "http"'),
        (b"web: {command: x, ports: ['0']}\n", 'invalid port "0"'),
        (b"web: {command: x, ports: ['70000']}\n", 'invalid port "70000"'),
        (b"web: {command: x, ports: ['1:2:3']}\n", 'invalid port "1:2:3"'),
        (b"web: {command: x, ports: [{'80': {protocol: udp}}]}\n", 'unknown protocol "udp"'),
        (b"web: {command: x, ports: [{'80': tcp}]}\n", "options must be a map"),
        (b"web: {command: x, environment: [A]}\n", "environment must be a map"),
        (b"web: {command: x, environment: {A: [1]}}\n", "environment A must be a string"),
        (b"web: {command: x, healthcheck: health}\n", 'healthcheck "health" is not valid'),
        (b"web: {command: x, healthcheck: 5}\n", "healthcheck must be a path, tcp, or a map"),
        (b"web: {command: x, healthcheck: {type: udp}}\n", 'type "udp" is not valid'),
        (b"web: {command: x, healthcheck: {path: health}}\n", 'path "health" must start with /'),
        (b"web: {command: x, healthcheck: {type: tcp, path: /h}}\n", "of type tcp has no path"),
        (b"web: {command: x, healthcheck: {port: 0}}\n", "port 0 must be a number from 1"),
        (b"web: {command: x, healthcheck: {interval: 0}}\n", "interval 0 is not a valid duration"),
        (b"web: {command: x, healthcheck: {timeout: 5h}}\n", 'timeout "5h" is not a valid'),
        (b"web: {command: x, healthcheck: {grace: -1}}\n", "grace -1 is not a valid duration"),
        (b"web: {command: x, healthcheck: {pth: /h}}\n", "healthcheck has unknown keys pth"),
        (b"\xff\xfeweb", "Procfile is not UTF-8 text"),
    ],
)
def test_invalid(content: bytes, message: str) -> None:
    with pytest.raises(InvalidProcfile) as caught:
        procfile.parse(content)
    assert message in str(caught.value)


def test_bad_yaml_reports_the_problem_and_line() -> None:
    content = b"web:\n  command: ./bin/web\n  ports: [80\nworker: {command: w}\n"

    with pytest.raises(InvalidProcfile) as caught:
        procfile.parse(content)

    message = str(caught.value)
    assert message.startswith("Procfile is not valid YAML: ")
    assert "(line 4, column " in message


# The release phase: `release` runs once per release, before any process of it starts


NO_PORTS = (
    'process "release" is the release phase: it runs once per release and serves nothing, '
    "so it takes no ports"
)
NO_SCHEDULE = (
    'process "release" is the release phase: it runs once per release, not on a schedule; '
    "give the scheduled command another name"
)
NO_COMMAND = 'process "release" has no command'


def test_release_is_the_release_phase_not_a_process_to_scale_or_serve() -> None:
    processes = procfile.parse(
        b"web: ./bin/web\n"
        b"release: {command: ./bin/migrate, ports: [], noservice: false, healthcheck: /h}\n"
    )
    assert processes["release"] == Process(
        name="release", command=("./bin/migrate",), noservice=True
    )
    assert parse_one(b"release: ./bin/migrate --all\n", "release") == Process(
        name="release", command=("./bin/migrate", "--all"), noservice=True
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"release: {command: ./bin/migrate, ports: ['80']}\n", NO_PORTS),
        (b"release: {command: ./bin/migrate, ports: ['8000:80']}\n", NO_PORTS),
        (b"release: {command: x, ports: [{'5000': {protocol: tcp}}]}\n", NO_PORTS),
        (b"release: {command: ./bin/migrate, cron: '0/5 * * * ? *'}\n", NO_SCHEDULE),
        (b"web: ./bin/web\nrelease:\n", NO_COMMAND),
        (b"web: ./bin/web\nrelease: ''\n", NO_COMMAND),
        (b"release: {command: []}\n", NO_COMMAND),
        (b"release: {command: '   '}\n", NO_COMMAND),
        (b"release: {command: '# only a comment'}\n", NO_COMMAND),
        (b"release: {noservice: true}\n", NO_COMMAND),
    ],
    ids=[
        "port",
        "mapped-port",
        "port-map",
        "cron",
        "null",
        "empty",
        "empty-list",
        "blank",
        "comment",
        "no-command-key",
    ],
)
def test_a_release_phase_with_ports_a_schedule_or_no_command_is_refused(
    content: bytes, message: str
) -> None:
    with pytest.raises(InvalidProcfile) as caught:
        procfile.parse(content)
    assert caught.value.message == message
