"""The ECS mapping's pure parts: schedules, names, record anchors, task definitions."""

from __future__ import annotations

import dataclasses

import pytest

from ecs.ecs_support import CONFIG, AppState
from empire.errors import Invalid
from empire.model import HealthCheck
from empire.scheduler import Manifest
from empire.scheduler.ecs import cron_expression
from empire.scheduler.ecs.records import Anchor
from empire.scheduler.ecs.taskdefs import definition, health_check


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 12 * * ? *", "cron(0 12 * * ? *)"),  # Empire's AWS form passes through
        ("cron(0/5 * * * ? *)", "cron(0/5 * * * ? *)"),
        ("*/5 * * * *", "cron(*/5 * * * ? *)"),
        ("30 2 1 * *", "cron(30 2 1 * ? *)"),
        ("0 9 * * 1-5", "cron(0 9 ? * MON-FRI *)"),
        ("0 9 * * 0,6", "cron(0 9 ? * SUN,SAT *)"),
        ("0 9 * * 7", "cron(0 9 ? * SUN *)"),
    ],
)
def test_schedules_become_eventbridge_expressions(schedule: str, expected: str) -> None:
    assert cron_expression(schedule) == expected


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * *", "use 5 fields"),
        ("0 9 1 * 1", "cannot match both a day of the month and a day of the week"),
        ("0 9 * * 8", "day of week 8 is not 0-7"),
    ],
)
def test_bad_schedules_say_why(schedule: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        cron_expression(schedule)


def test_names_fit_aws_limits() -> None:
    long_app = "a" * 30
    assert CONFIG.cluster_name == "production"
    assert CONFIG.service_name("acme", "web") == "acme_web"
    assert CONFIG.family("acme", "web") == "production_acme_web"
    assert CONFIG.run_family("acme") == "production_acme__run"
    name = CONFIG.target_group_name("id-1", long_app, "my_long_worker_name")
    assert len(name) <= 32 and name.startswith(CONFIG.target_group_prefix())
    assert name != CONFIG.target_group_name("id-2", long_app, "my_long_worker_name")
    assert len(CONFIG.rule_name(long_app, "x" * 60)) <= 64


def test_the_record_anchor_round_trips_and_fits_txt_strings() -> None:
    names = tuple(f"process-number-{i}.a-rather-long-app-name" for i in range(20))
    anchor = Anchor("production", "id-1", "a-rather-long-app-name", names)
    value = anchor.value()
    assert all(len(part) <= 255 for part in value.split('" "'))
    assert Anchor.parse(value) == anchor


def test_health_checks_run_in_the_image() -> None:
    state = AppState.new("acme", "id-1", "acme@sha256:" + "1" * 64)
    web = state.manifest().process("web")
    assert web is not None
    tcp = dataclasses.replace(web, healthcheck=HealthCheck(type="tcp", interval=1, timeout=90))
    check = health_check(tcp)
    assert check is not None
    assert check["command"][1].startswith("nc -z -w 60 127.0.0.1 80 || ")
    assert (check["interval"], check["timeout"]) == (5, 60)  # clamped to ECS's ranges
    assert health_check(dataclasses.replace(web, healthcheck=None)) is None


def test_scaling_alone_does_not_change_the_task_definition() -> None:
    state = AppState.new("acme", "id-1", "acme@sha256:" + "1" * 64)
    before = state.manifest()
    state.scale("web", 5)
    after = state.manifest()

    def label(manifest: Manifest) -> str:
        process = manifest.process("web")
        assert process is not None
        built = definition(CONFIG, manifest, process, "family", "service")
        return str(built["containerDefinitions"][0]["dockerLabels"]["empire.spec"])

    assert before.process("web") != after.process("web")  # EMPIRE_PROCESS_SCALE differs
    assert label(before) == label(after)
