"""The Procfile parser's bounds (issue 13 item 2): size, anchors and aliases, tags, nesting,
value count, process and port counts, and error messages that quote only an excerpt."""

from __future__ import annotations

import pytest

from empire import procfile
from empire.errors import InvalidProcfile

NO_ALIAS = "anchors (&) and aliases (*) are not allowed in a Procfile, write each value out"


def refused(content: bytes) -> str:
    with pytest.raises(InvalidProcfile) as caught:
        procfile.parse(content)
    return caught.value.message


# -- size -------------------------------------------------------------------------------------


def test_a_procfile_of_max_bytes_is_read_and_one_byte_more_is_refused() -> None:
    line = b"web: ./bin/web\n"
    padded = line + b"#" * (procfile.MAX_BYTES - len(line) - 1) + b"\n"
    assert len(padded) == procfile.MAX_BYTES
    assert procfile.parse(padded)["web"].command == ("./bin/web",)

    assert refused(padded + b"\n") == (
        f"Procfile is {procfile.MAX_BYTES + 1} bytes, over the limit of {procfile.MAX_BYTES} "
        "(64 KiB): a Procfile lists processes, move long scripts into the image"
    )


def test_a_huge_procfile_is_refused_before_it_is_decoded() -> None:
    assert refused(b"\xff" * (10 * procfile.MAX_BYTES)).startswith(
        f"Procfile is {10 * procfile.MAX_BYTES} bytes, over the limit"
    )


def test_an_image_cmd_too_long_for_a_procfile_is_refused() -> None:
    with pytest.raises(InvalidProcfile, match="the image CMD is too long to make a Procfile of"):
        procfile.generate_from_cmd(["x" * procfile.MAX_BYTES])


# -- anchors, aliases, tags -------------------------------------------------------------------


def test_aliases_are_refused_with_the_place_of_the_first_anchor() -> None:
    content = b"web:\n  command: &cmd ./bin/web\nworker:\n  command: *cmd\n"

    assert (
        refused(content) == f"Procfile uses a YAML anchor (&cmd) at line 2, column 12: {NO_ALIAS}"
    )


def test_an_alias_of_an_unknown_anchor_is_refused_too() -> None:
    content = b"web:\n  command: ./bin/web\n  ports: [*l8]\n"

    assert refused(content) == f"Procfile uses a YAML alias (*l8) at line 3, column 11: {NO_ALIAS}"


def test_merge_keys_need_aliases_and_are_refused() -> None:
    content = b"base: &base {command: ./x}\nweb:\n  <<: *base\n  ports: ['80']\n"

    assert NO_ALIAS in refused(content)


def test_a_heroku_line_with_an_ampersand_is_read_as_written() -> None:
    # YAML would read `&x` as an anchor; as a Heroku line it is text, which cannot expand.
    assert procfile.parse(b"web: &x ./bin/web\nworker: ./w\n")["web"].command == ("&x", "./bin/web")


@pytest.mark.parametrize(
    "value", ["!!float x", "!!timestamp 2001-99-99", "!!set {a, b}", "!!str 80", "!ruby x"]
)
def test_tags_are_refused(value: str) -> None:
    content = f"web:\n  command: ./bin/web\n  ports: [{value}]\n".encode()

    message = refused(content)

    assert message.startswith("Procfile uses a YAML tag (")
    assert message.endswith(
        "tags (!, !!) are not allowed in a Procfile, write plain values (quote text)"
    )


# -- nesting and counts -----------------------------------------------------------------------


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    depth = procfile.MAX_DEPTH + 1
    content = b"web: {command: x, ports: " + b"[" * depth + b"1" + b"]" * depth + b"}\n"

    assert refused(content).startswith(
        f"Procfile nests values more than {procfile.MAX_DEPTH} levels deep at line 1"
    )


def test_nesting_to_the_limit_is_parsed() -> None:
    depth = procfile.MAX_DEPTH - 3  # the document, the process and its ports are 3 levels
    content = b"web: {command: x, x-extra: " + b"[" * depth + b"1" + b"]" * depth + b"}\n"

    assert procfile.parse(content)["web"].command == ("x",)


def test_more_values_than_the_limit_are_refused() -> None:
    content = b"web: {command: x, x-extra: [" + b"1," * procfile.MAX_NODES + b"1]}\n"

    assert refused(content).startswith(f"Procfile has more than {procfile.MAX_NODES} values at")


def test_more_processes_than_the_limit_are_refused() -> None:
    allowed = b"".join(b"p%d: ./run\n" % i for i in range(procfile.MAX_PROCESSES))
    assert len(procfile.parse(allowed)) == procfile.MAX_PROCESSES

    assert refused(allowed + b"one-more: ./run\n") == (
        f"Procfile defines {procfile.MAX_PROCESSES + 1} processes, over the limit of "
        f"{procfile.MAX_PROCESSES}: run related work in one process type"
    )


def test_more_ports_than_the_limit_are_refused() -> None:
    ports = ", ".join(str(8000 + i) for i in range(procfile.MAX_PORTS + 1))

    assert refused(f"api: {{command: x, ports: [{ports}]}}\n".encode()) == (
        f'process "api" declares more than {procfile.MAX_PORTS} ports: '
        "expose one and talk to the others inside the container"
    )


def test_a_process_name_is_at_most_a_dns_label() -> None:
    assert procfile.parse(b"a" * 63 + b": ./run\n")
    assert refused(b"a" * 64 + b": ./run\n").startswith('invalid process name "aaaa')


# -- what Python cannot build stays text ------------------------------------------------------


def test_numbers_python_cannot_build_stay_text() -> None:
    digits = "9" * 5000
    web = procfile.parse(f"web: {{command: [echo, {digits}, 0x{'f' * 5000}]}}\n".encode())["web"]

    assert web.command == ("echo", digits, "0x" + "f" * 5000)


def test_a_date_that_does_not_exist_stays_text() -> None:
    assert procfile.parse(b"web: {command: [echo, 2001-02-30]}\n")["web"].command == (
        "echo",
        "2001-02-30",
    )


# -- messages quote an excerpt ----------------------------------------------------------------


def test_a_long_bad_value_is_quoted_as_an_excerpt() -> None:
    message = refused(f"web: {{command: x, ports: ['{'8' * 60_000}']}}\n".encode())

    assert message == (
        f'process "web": invalid port "{"8" * procfile.EXCERPT}...": use "80" or "80:8080" '
        "(host:container), ports 1-65535"
    )


def test_a_big_bad_structure_is_quoted_as_an_excerpt() -> None:
    rows = ", ".join("[" + ", ".join(["lol"] * 50) + "]" for _ in range(50))

    message = refused(f"web: {{command: x, ports: [[{rows}]]}}\n".encode())

    assert message.startswith("process \"web\": invalid port [['lol', 'lol', 'lol', 'lol', ")
    assert len(message) < 250


def test_control_characters_in_a_bad_value_are_escaped() -> None:
    message = refused(b'web: {command: x, ports: ["\\e[31mred"]}\n')

    assert '"\\x1b[31mred"' in message
    assert "\x1b" not in message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"web: {command: x, healthcheck: {" + b"k" * 1000 + b": 1}}\n",
            'process "web": healthcheck has unknown keys kkkkkkkkkkkkkkkkkkkk...: use ',
        ),
        (b"web: {command: \"echo 'a" + b"b" * 5000 + b'"}\n', "cannot split command \"echo 'abb"),
        (b"web: {command: x, environment: {A=B: c}}\n", "invalid environment name"),
        (b'web: {command: x, environment: {A: "a\\0b"}}\n', "environment A contains a NUL"),
        (b'web: {command: ["a\\0b"]}\n', 'process "web": command contains a NUL character'),
        (b"web: {command: x, cron: '" + b"* " * 200 + b"'}\n", "is not a schedule: use at most"),
        (b"web: {command: x, healthcheck: '/a b'}\n", 'path "/a b" is not a URL path'),
        (b"web: {command: x, healthcheck: /" + b"h" * 2000 + b"}\n", "is not a URL path"),
    ],
)
def test_other_fields_are_bounded_and_quoted_short(content: bytes, message: str) -> None:
    text = refused(content)

    assert message in text
    assert len(text) < 300


def test_the_error_of_a_long_yaml_problem_is_cut() -> None:
    message = refused(b"web: x\n  " + b"!" + b"a" * 5000 + b" y: z\n")

    assert message.startswith("Procfile ")
    assert len(message) < 300
