"""EMPIRE_SCHEDULER=ecs: every required setting, named at once when missing; the wiring."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from empire.core import utcnow
from empire.errors import Invalid
from empire.scheduler.ecs import EcsScheduler
from empire.settings import ECS_REQUIRED, Settings
from empire.wiring import build_scheduler

LISTENER = "arn:aws:elasticloadbalancing:eu-west-1:1:listener/app"
COMPLETE = {
    "EMPIRE_SCHEDULER": "ecs",
    "EMPIRE_AWS_REGION": "eu-west-1",
    "EMPIRE_ECS_CLUSTER": "empire",
    "EMPIRE_ECS_SUBNETS": "subnet-a, subnet-b",
    "EMPIRE_ECS_SECURITY_GROUPS": "sg-1",
    "EMPIRE_ECS_PUBLIC_LISTENER_ARN": f"{LISTENER}/p/1/2",
    "EMPIRE_ECS_INTERNAL_LISTENER_ARN": f"{LISTENER}/i/1/2",
    "EMPIRE_ECS_HOSTED_ZONE_ID": "Z123",
    "EMPIRE_ECS_TASK_ROLE_ARN": "arn:aws:iam::1:role/task",
    "EMPIRE_ECS_EXECUTION_ROLE_ARN": "arn:aws:iam::1:role/execution",
    "EMPIRE_ECS_LOG_GROUP": "/empire/apps",
}


def test_every_missing_setting_is_named_in_one_message() -> None:
    with pytest.raises(Invalid) as raised:
        Settings.from_env({"EMPIRE_SCHEDULER": "ecs", "EMPIRE_ECS_CLUSTER": "empire"})
    message = str(raised.value)
    assert message.startswith("invalid settings: EMPIRE_SCHEDULER=ecs needs EMPIRE_AWS_REGION, ")
    missing = [name for name in ECS_REQUIRED if name != "EMPIRE_ECS_CLUSTER"]
    assert all(name in message for name in missing)
    assert "EMPIRE_ECS_CLUSTER" not in message
    assert "EMPIRE_AWS_ENDPOINT_URL" not in message  # optional


def test_a_blank_setting_counts_as_missing() -> None:
    with pytest.raises(Invalid, match=r"needs EMPIRE_ECS_LOG_GROUP \("):
        Settings.from_env({**COMPLETE, "EMPIRE_ECS_LOG_GROUP": "  "})


def test_other_schedulers_need_none_of_them() -> None:
    assert Settings.from_env({"EMPIRE_SCHEDULER": "docker"}).ecs_cluster == ""


def test_complete_settings_are_read_and_wired() -> None:
    settings = Settings.from_env(
        {
            **COMPLETE,
            "EMPIRE_AWS_ENDPOINT_URL": "http://127.0.0.1:1",
            "EMPIRE_ECS_EVENTS_ROLE_ARN": "arn:aws:iam::1:role/events",
            "EMPIRE_ECS_DEPLOY_TIMEOUT": "900",
        }
    )
    assert settings.ecs_subnets == ("subnet-a", "subnet-b")
    assert settings.ecs_deploy_timeout == 900.0
    assert settings.router == "none"
    scheduler = build_scheduler(settings, utcnow)
    assert isinstance(scheduler, EcsScheduler)
    assert scheduler.config.subnets == ("subnet-a", "subnet-b")
    assert scheduler.config.events_role_arn == "arn:aws:iam::1:role/events"
    assert scheduler.watch.deadline == 900.0
    assert scheduler.aws.ecs.meta.endpoint_url == "http://127.0.0.1:1"
    assert scheduler.aws.ecs.meta.region_name == "eu-west-1"


def test_the_server_refuses_to_start(tmp_path: Path) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "EMPIRE_DATA_DIR": str(tmp_path),
        "EMPIRE_SCHEDULER": "ecs",
        "EMPIRE_AWS_REGION": "eu-west-1",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "empire"), "server", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("Error: invalid settings: EMPIRE_SCHEDULER=ecs needs ")
    for name in ECS_REQUIRED:
        assert (name in done.stderr) == (name != "EMPIRE_AWS_REGION")
    assert not (tmp_path / "empire.db").exists()  # it stopped before touching anything
