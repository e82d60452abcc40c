"""Transcripts: help, version, unknown commands."""

from __future__ import annotations

from emp import __version__, help

from .conftest import Emp

HELP_START = "Usage: emp <command> [-a <app or remote>] [options] [arguments]\n\n\nCommands:\n\n"


def test_help_lists_commands_in_empire_s_order(emp: Emp) -> None:
    code, out, err = emp("help")
    assert (code, err) == (0, "")
    assert out.startswith(
        HELP_START + "    create         create an app\n    apps           list apps\n"
    )
    assert "    domain-remove  remove a domain\n" in out
    assert out.endswith(
        "    version        show emp version\n\n"
        "Run 'emp help [command]' for details.\n\n\n"
        "Additional help topics:\n\n"
        "    commands  list all commands with usage\n"
        "    environ   environment variables used by emp\n"
        "    more      additional commands, less frequently used\n"
        "    about     information about emp (e.g. legal)\n\n"
    )
    assert emp("--help") == (0, out, "")


def test_no_command_prints_usage_to_stderr(emp: Emp) -> None:
    assert emp() == (2, "", help.usage())
    assert emp("-a", "acme") == (2, "", help.usage())


def test_unknown_command_suggests_alternatives(emp: Emp) -> None:
    assert emp("hepl") == (
        2,
        "",
        "Unknown command: hepl\nPossible alternatives: help apps env get set\n"
        "Run 'emp help' for usage.\n",
    )
    assert emp("scael") == (
        2,
        "",
        "Unknown command: scael\nPossible alternatives: scale set\nRun 'emp help' for usage.\n",
    )
    assert emp("environment-variables") == (
        2,
        "",
        "Unknown command: environment-variables\nRun 'emp help' for usage.\n",
    )
    assert emp("mroe").err.startswith('Unknown command: mroe\nPossible alternatives: "help more"')


def test_help_for_a_command(emp: Emp) -> None:
    code, out, err = emp("help", "scale")
    assert (code, err) == (0, "")
    assert out.startswith(
        "Usage: emp scale [-a <app or remote>] [-m <message>] [-l] <type>=[<qty>]:[<size>]...\n\n"
        "Scale changes the quantity of dynos"
    )
    assert emp("scale", "--help") == (0, out, "")
    assert emp("scale", "-h") == (0, out, "")
    assert emp("help", "dynos").out.startswith("Usage: emp ps [-a <app or remote>] [<name>...]\n")


def test_help_topics(emp: Emp) -> None:
    assert emp("help", "environ").out.startswith(
        "Several environment variables affect emp's behavior.\n\nEMPIRE_API_URL\n"
    )
    more = emp("help", "more").out
    assert more.startswith("Additional commands:\n\n    access               list who has access")
    assert "\n    api                  make a single API" in more
    assert "    login                log in to Empire\n" in more
    assert more.endswith("\nRun 'emp help [command]' for details.\n\n")
    commands = emp("help", "commands").out.splitlines()
    assert commands[0].startswith("emp access [-a <app or remote>]  ")
    api = next(line for line in commands if line.startswith("emp api "))
    assert api.startswith("emp api [-m <message>] <method> <path>  ")
    assert api.endswith("# make a single API request")
    assert not any(line.startswith("emp ssl") for line in commands)


def test_help_errors(emp: Emp) -> None:
    assert emp("help", "nope") == (2, "", "Unknown help topic: \"nope\". Run 'emp help'.\n")
    assert emp("help", "a", "b") == (1, "", "error: too many arguments\n")


def test_version(emp: Emp) -> None:
    assert emp("version") == (0, f"{__version__}\n", "")
    assert emp("--version") == (0, f"{__version__}\n", "")


def test_which_app(emp: Emp) -> None:
    assert emp("which-app", "-a", "acme") == (0, "acme\n", "")
    assert emp("which-app", env={"EMPAPP": "beta"}) == (0, "beta\n", "")


def test_url_and_api(acme: Emp) -> None:
    assert acme("url") == (0, "http://acme/\n", "")
    code, out, _ = acme("api", "GET", "/apps/acme/formation")
    assert code == 0 and '"type":"web"' in out
    assert acme("api", "PATCH", "apps/acme", stdin='{"maintenance": true}').code == 0
    assert acme("maintenance") == (0, "enabled\n", "")
    assert acme("api", "POST", "/apps", stdin="{nope") == (
        1,
        "",
        "error: the request body on stdin is not JSON: Expecting property name enclosed in "
        "double quotes: line 1 column 2 (char 1)\n",
    )
