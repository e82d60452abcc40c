"""Settings: one declaration per variable builds from_env, the defaults and the README's table."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from empire.errors import Invalid
from empire.settings import ECS_REQUIRED, Settings, main, markdown_table, variables

ROOT = Path(__file__).resolve().parents[2]
BEGIN = "<!-- settings table: scripts/settings-table writes it from src/empire/settings.py -->\n"
END = "<!-- end of settings table -->"


def test_the_readme_table_is_the_declared_one() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split(BEGIN, 1)[1].split(END, 1)[0]
    assert table == markdown_table(), "README.md is out of date: run scripts/settings-table"


def test_every_attribute_is_one_documented_variable() -> None:
    declared = variables()
    assert [attribute for attribute, _ in declared] == [f.name for f in fields(Settings)]
    names = [var.name for _, var in declared]
    assert len(set(names)) == len(names)
    for name, var in ((v.name, v) for _, v in declared):
        assert re.fullmatch(r"EMPIRE_[A-Z0-9_]+", name)
        assert var.doc and var.kind.shown, name


def test_every_empire_setting_the_server_names_is_declared() -> None:
    """A variable named in a message or a comment of the server exists (or is an app's)."""
    apps = {"EMPIRE_APPID", "EMPIRE_APPNAME", "EMPIRE_PROCESS", "EMPIRE_RELEASE"}
    apps |= {"EMPIRE_PROCESS_SCALE", "EMPIRE_TASK_ROLE_ARN"}  # set on apps, read per app
    declared = {var.name for _, var in variables()}
    named = {
        name
        for path in (ROOT / "src" / "empire").rglob("*.py")
        for name in re.findall(r"EMPIRE_[A-Z0-9_]*[A-Z0-9]", path.read_text())
    }
    assert named - apps - declared == set()


def test_the_defaults_are_what_an_empty_environment_reads() -> None:
    """The dataclass's defaults and from_env's agree (the scheduler's once did not)."""
    read = Settings.from_env({"HOME": "/home/ann"})
    assert read == Settings(
        data_dir=Path("/home/ann/.local/share/empire"),
        database_url="sqlite:////home/ann/.local/share/empire/empire.db",
    )
    assert (read.scheduler, read.router, read.log_level) == ("docker", "caddy", "info")
    assert read.token_ttl == timedelta(days=30)
    assert read.events_stdout and not read.messages_required


def test_derived_defaults() -> None:
    env = {"XDG_DATA_HOME": "/data", "EMPIRE_SCHEDULER": "fake"}
    settings = Settings.from_env(env)
    assert settings.data_dir == Path("/data/empire")
    assert settings.database_url == "sqlite:////data/empire/empire.db"
    assert settings.router == "none"
    assert Settings.from_env({**env, "EMPIRE_SCHEDULER": "swarm"}).router == "caddy"
    postgres = Settings.from_env({"EMPIRE_DATABASE_URL": "postgres://u@db/empire"})
    assert postgres.database_url == "postgresql+psycopg://u@db/empire"
    assert not postgres.sqlite


def test_a_blank_variable_is_unset() -> None:
    blank = Settings.from_env({"HOME": "/h", "EMPIRE_HOST": "  ", "EMPIRE_PORT": ""})
    assert (blank.host, blank.port) == ("127.0.0.1", 8080)


def test_values_are_read_by_their_kind() -> None:
    settings = Settings.from_env(
        {
            "EMPIRE_LOG_LEVEL": "DEBUG",
            "EMPIRE_AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "EMPIRE_ECS_DEPLOY_TIMEOUT": "90.5",
            "EMPIRE_ECS_SUBNETS": "subnet-a, subnet-b subnet-c",
            "EMPIRE_TOKEN_TTL_DAYS": "0",
            "EMPIRE_MESSAGES_REQUIRED": "Yes",
            "EMPIRE_ENCRYPTION_KEY": "new,old",
            "EMPIRE_ALLOWED_IMAGES": "acme/*, registry.example.com/acme/**",
            "EMPIRE_ALLOW_LOCAL_REGISTRIES": "on",
        }
    )
    assert settings.log_level == "debug"
    assert settings.aws_endpoint_url == "http://127.0.0.1:5000"
    assert settings.ecs_deploy_timeout == 90.5
    assert settings.ecs_subnets == ("subnet-a", "subnet-b", "subnet-c")
    assert settings.token_ttl is None
    assert settings.messages_required
    assert settings.encryption_keys == ("new", "old")
    assert settings.allowed_images == ("acme/*", "registry.example.com/acme/**")
    assert settings.allow_local_registries


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(Invalid) as refused:
        Settings.from_env(
            {
                "EMPIRE_LOG_LEVEL": "loud",
                "EMPIRE_PORT": "80a",
                "EMPIRE_HEALTH_TIMEOUT": "-1",
                "EMPIRE_ECS_DEPLOY_TIMEOUT": "nan",
                "EMPIRE_MESSAGES_REQUIRED": "maybe",
                "EMPIRE_SCHEDULER": "nomad",
                "EMPIRE_ALLOWED_IMAGES": "acme/*,acme/api:v1",
            }
        )
    message = refused.value.message
    assert message.startswith("invalid settings: ")
    for problem in (
        "EMPIRE_LOG_LEVEL='loud' (use one of critical, error, warning, info, debug)",
        "EMPIRE_PORT='80a' (use a port number)",
        "EMPIRE_HEALTH_TIMEOUT='-1' (use a number of seconds)",
        "EMPIRE_ECS_DEPLOY_TIMEOUT='nan' (use a number of seconds)",
        "EMPIRE_MESSAGES_REQUIRED='maybe' (use true or false)",
        "EMPIRE_SCHEDULER='nomad' (use one of docker, fake, swarm, ecs)",
        "EMPIRE_ALLOWED_IMAGES: 'acme/api:v1' names a tag",
    ):
        assert problem in message


def test_the_router_container_only_with_the_engine_schedulers() -> None:
    with pytest.raises(Invalid, match="EMPIRE_ROUTER=caddy runs on the Docker and Swarm"):
        Settings.from_env({"EMPIRE_SCHEDULER": "fake", "EMPIRE_ROUTER": "caddy"})
    assert Settings.from_env({"EMPIRE_SCHEDULER": "fake"}).router == "none"
    assert Settings.from_env({"EMPIRE_SCHEDULER": "swarm", "EMPIRE_ROUTER": "caddy"}).router == (
        "caddy"
    )


def test_secrets_stay_out_of_messages_and_reprs() -> None:
    key = "k" * 40
    settings = Settings.from_env({"EMPIRE_SECRET_KEY": key, "EMPIRE_WEBHOOK_SECRET": "hush"})
    assert key not in repr(settings) and "hush" not in repr(settings)
    with pytest.raises(Invalid) as refused:
        Settings.from_env(
            {"EMPIRE_SECRET_KEY": "short", "EMPIRE_WEBHOOKS": "ftp://u:pw@x ftp://u:pw@y"}
        )
    message = refused.value.message
    assert "short" not in message.replace("too short", "") and "pw" not in message
    assert "EMPIRE_WEBHOOKS: URLs 1, 2 are not http:// or https:// URLs" in message


def test_ecs_requires_its_settings_in_declaration_order() -> None:
    assert ECS_REQUIRED[0] == "EMPIRE_AWS_REGION"
    assert "EMPIRE_AWS_ENDPOINT_URL" not in ECS_REQUIRED
    assert "EMPIRE_ECS_EVENTS_ROLE_ARN" not in ECS_REQUIRED
    with pytest.raises(Invalid, match="EMPIRE_SCHEDULER=ecs needs EMPIRE_AWS_REGION, "):
        Settings.from_env({"EMPIRE_SCHEDULER": "ecs"})


def test_the_markdown_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--markdown"]) == 0
    assert capsys.readouterr().out == markdown_table()
    assert main([]) == 2
