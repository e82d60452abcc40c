"""Config vars live in Parameter Store, never in a task definition; per-app task roles.

Against the moto server: every registration Empire sends (services, cron, one-off runs) is
searched for each config value; the containers' `secrets` name SecureString parameters that
hold exactly the app's values; old releases' parameters go once a newer one has rolled out,
and all of them with the app. Task roles named by EMPIRE_TASK_ROLE_ARN are used only when
the operator allows them.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from ecs.ecs_support import (
    ACCOUNT,
    CREDENTIALS,
    REGION,
    AppState,
    Infra,
    env,
    parameters,
    resolved_env,
    secret_refs,
)
from empire.errors import Invalid
from empire.model import Outcome
from empire.scheduler.ecs import AwsError, EcsScheduler
from empire.scheduler.ecs.config import TASK_ROLE_VAR

IMAGE = "acme/acme@sha256:" + "5" * 64
PROCFILE = b"""
web:
  command: ./bin/web --port $PORT
  healthcheck: /health
worker:
  command: ./bin/worker
  environment: {MODE: procfile-mode}
clock:
  command: ./bin/tick
  cron: "*/5 * * * *"
migrate:
  command: ./bin/migrate
  noservice: true
"""
SECRETS = {
    "DATABASE_URL": "postgres://acme:hunter2-db-password@db.internal/acme",
    "API_TOKEN": "tok_9f8e7d6c5b4a",
    "BIG_CERT": "-----BEGIN KEY-----" + "Q" * 5000,  # over 4 KB: an advanced-tier value
}


def app(vars: dict[str, str], name: str = "acme", app_id: str = "app-acme") -> AppState:
    state = AppState.new(name, app_id, IMAGE, PROCFILE)
    state.vars = dict(vars)
    return state


def registrations(infra: Infra) -> list[dict[str, Any]]:
    return infra.sent("RegisterTaskDefinition")


def test_no_config_value_is_in_any_task_definition(infra: Infra) -> None:
    scheduler = infra.scheduler()
    state = app({**SECRETS, "EMPTY": "", "MODE": "config-mode"})
    verdict = scheduler.submit(state.manifest())
    assert verdict.outcome is Outcome.SUCCEEDED, verdict
    manifest = state.manifest()
    migrate = manifest.process("migrate")
    assert migrate is not None
    scheduler.run(manifest, migrate)

    sent = registrations(infra)
    assert {r["family"].rsplit("_", 1)[-1] for r in sent} == {"web", "worker", "clock", "run"}
    for registration in sent:
        text = json.dumps(registration)
        for name, value in SECRETS.items():
            assert value not in text, f"{name} in clear in {registration['family']}"
    # ... and what AWS holds (ECS returns what it was given, so describe it too)
    for service in infra.services().values():
        described = json.dumps(infra.task_definition(service["taskDefinition"]), default=str)
        assert not any(value in described for value in SECRETS.values())

    web = infra.task_definition(infra.services()["acme_web"]["taskDefinition"])
    path = infra.config.parameters_path("app-acme", 1)
    assert secret_refs(web) == {
        name: f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter{path}/{name}"
        for name in ("API_TOKEN", "BIG_CERT", "DATABASE_URL", "MODE")
    }
    plain = env(web)
    assert plain["EMPIRE_APPNAME"] == "acme" and plain["PORT"] == "80"
    assert plain["EMPTY"] == ""  # Parameter Store refuses empty values; "" is no secret
    assert resolved_env(infra, web) == {
        **plain,
        **SECRETS,
        "MODE": "config-mode",
    }
    # the Procfile's own environment wins over a config var, and it is no secret
    worker = infra.task_definition(infra.services()["acme_worker"]["taskDefinition"])
    assert env(worker)["MODE"] == "procfile-mode" and "MODE" not in secret_refs(worker)

    described = infra.clients.ssm.describe_parameters(
        ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [path]}]
    )["Parameters"]
    assert sorted(p["Name"] for p in described) == [
        f"{path}/{n}" for n in ("API_TOKEN", "BIG_CERT", "DATABASE_URL", "MODE")
    ]
    assert {p["Type"] for p in described} == {"SecureString"}
    assert {p.get("KeyId") for p in described} == {"alias/aws/ssm"}  # the account's default key
    writes = infra.sent("PutParameter")
    assert len(writes) == 4  # once per variable and release, not per process
    assert all(w["Tier"] == "Intelligent-Tiering" and "KeyId" not in w for w in writes)
    assert {t["Key"]: t["Value"] for t in writes[0]["Tags"]}["empire.app.id"] == "app-acme"


def test_parameters_are_written_once_per_release_and_pruned_after_the_next(infra: Infra) -> None:
    scheduler = infra.scheduler()
    state = app({"A": "alpha-1", "B": "bravo-1"})
    assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    v1 = infra.config.parameters_path("app-acme", 1)
    assert parameters(infra) == [f"{v1}/A", f"{v1}/B"]

    infra.calls.clear()
    state.scale("web", 3)  # no new release: nothing is written
    assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    assert [n for n, _ in infra.calls if n.endswith("Parameter") or "Parameters" in n] == []

    # a restarted Empire running a one-off of the same release finds them with one listing
    restarted = infra.scheduler()
    infra.calls.clear()
    manifest = state.manifest()
    migrate = manifest.process("migrate")
    assert migrate is not None
    restarted.run(manifest, migrate)
    assert len(infra.sent("DescribeParameters")) == 1 and infra.sent("PutParameter") == []

    state.version, state.vars = 2, {"A": "alpha-2"}
    assert restarted.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    v2 = infra.config.parameters_path("app-acme", 2)
    assert parameters(infra) == [f"{v2}/A"]  # v1's went with its task definitions
    web = infra.task_definition(infra.services()["acme_web"]["taskDefinition"])
    assert resolved_env(infra, web)["A"] == "alpha-2" and "B" not in resolved_env(infra, web)


def test_remove_and_prune_delete_the_parameters(infra: Infra) -> None:
    scheduler = infra.scheduler()
    for name in ("keep", "gone", "destroyed"):
        state = app({"SECRET": f"{name}-secret-value"}, name=name, app_id=f"app-{name}")
        assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    outsider = "/empire/someone-else/app-gone/v1/SECRET"
    infra.clients.ssm.put_parameter(Name=outsider, Value="x", Type="SecureString")

    # an app this scheduler only ran a one-off (or a release phase) for is alive to it
    fresh = app({"SECRET": "fresh-secret-value"}, name="fresh", app_id="app-fresh").manifest()
    migrate = fresh.process("migrate")
    assert migrate is not None
    scheduler.run(fresh, migrate)
    scheduler.prune({"app-keep", "app-gone", "app-destroyed"})
    assert "app-fresh" in {p.split("/")[3] for p in parameters(infra)}

    scheduler.remove("app-destroyed")
    scheduler.remove("app-fresh")
    assert [p.split("/")[3] for p in parameters(infra)] == ["app-gone", "app-keep"]
    infra.scheduler().prune({"app-keep"})  # "gone" was destroyed while Empire was away
    assert parameters(infra) == [f"{infra.config.parameters_path('app-keep', 1)}/SECRET"]
    kept = infra.clients.ssm.get_parameter(Name=outsider, WithDecryption=True)
    assert kept["Parameter"]["Value"] == "x"


def test_errors_never_repeat_a_value(infra: Infra) -> None:
    ssm = boto3.client("ssm", region_name=REGION, **CREDENTIALS)
    scheduler = EcsScheduler(
        dataclasses.replace(infra.clients, ssm=ssm), infra.config, poll_interval=0.01
    )
    value = "correct horse battery staple"
    stub = Stubber(ssm)
    stub.add_response("describe_parameters", {"Parameters": []})
    stub.add_client_error(
        "put_parameter",
        "ValidationException",
        f"1 validation error detected: Value '{value}' at 'value' failed to satisfy constraint",
        400,
    )
    with stub, pytest.raises(AwsError) as raised:
        scheduler.submit(app({"PASSWORD": value}).manifest())
    message = str(raised.value)
    assert value not in message and value not in repr(raised.value.__cause__)
    assert message.startswith(
        "cannot store config var PASSWORD of release v1 in Parameter Store: AWS answered "
        "ValidationException: 1 validation error detected: Value '<the value>' at 'value'"
    )
    assert infra.services() == {}  # nothing registered without its parameters


# -- per-app task roles ---------------------------------------------------------------------------

ROLE = f"arn:aws:iam::{ACCOUNT}:role/apps/acme"


def with_roles(infra: Infra, *roles: str) -> EcsScheduler:
    config = dataclasses.replace(infra.config, allowed_task_roles=roles)
    return EcsScheduler(infra.clients, config, deadline=5.0, poll_interval=0.01)


def test_an_allowed_task_role_is_the_app_s(infra: Infra) -> None:
    scheduler = with_roles(infra, f"arn:aws:iam::{ACCOUNT}:role/apps/*")
    state = app({TASK_ROLE_VAR: ROLE, "A": "alpha"})
    assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    for service in infra.services().values():
        definition = infra.task_definition(service["taskDefinition"])
        assert definition["taskRoleArn"] == ROLE
        assert definition["executionRoleArn"] == infra.config.execution_role_arn
        assert TASK_ROLE_VAR not in resolved_env(infra, definition)  # never in the container
    assert [p.rsplit("/", 1)[-1] for p in parameters(infra)] == ["A"]
    other = app({"A": "alpha"}, name="other", app_id="app-other")
    assert scheduler.submit(other.manifest()).outcome is Outcome.SUCCEEDED
    web = infra.task_definition(infra.services()["other_web"]["taskDefinition"])
    assert web["taskRoleArn"] == infra.config.task_role_arn  # without one: the default

    # the role is part of the release: unsetting it goes back to the default role
    state.version, state.vars = 2, {"A": "alpha"}
    assert scheduler.submit(state.manifest()).outcome is Outcome.SUCCEEDED
    web = infra.task_definition(infra.services()["acme_web"]["taskDefinition"])
    assert web["taskRoleArn"] == infra.config.task_role_arn


def test_a_role_the_operator_did_not_allow_is_refused(infra: Infra) -> None:
    admin = f"arn:aws:iam::{ACCOUNT}:role/admin"
    scheduler = with_roles(infra, ROLE)
    state = app({TASK_ROLE_VAR: admin})
    verdict = scheduler.submit(state.manifest())
    assert verdict.outcome is Outcome.FAILED
    assert verdict.reason == (
        f"{TASK_ROLE_VAR} {admin} is not an allowed task role: use one of {ROLE} "
        f"(EMPIRE_ECS_ALLOWED_TASK_ROLES), or unset it with `emp unset {TASK_ROLE_VAR}`"
    )
    assert infra.services() == {} and registrations(infra) == [] and parameters(infra) == []
    manifest = state.manifest()
    migrate = manifest.process("migrate")
    assert migrate is not None
    with pytest.raises(Invalid, match="is not an allowed task role"):
        scheduler.run(manifest, migrate)

    nobody = infra.scheduler()  # no allow-list: no app chooses its role
    verdict = nobody.submit(app({TASK_ROLE_VAR: ROLE}).manifest())
    assert verdict.outcome is Outcome.FAILED
    assert "this Empire lets no app choose its task role" in verdict.reason
    assert "EMPIRE_ECS_ALLOWED_TASK_ROLES" in verdict.reason
    assert infra.services() == {}


def test_parameter_arns_follow_the_execution_role_s_account_and_partition() -> None:
    from ecs.ecs_support import CONFIG

    china = dataclasses.replace(
        CONFIG, region="cn-north-1", execution_role_arn="arn:aws-cn:iam::210987654321:role/x"
    )
    assert china.parameter_arn("/empire/production/a/v1/X") == (
        "arn:aws-cn:ssm:cn-north-1:210987654321:parameter/empire/production/a/v1/X"
    )
    by_cluster = dataclasses.replace(CONFIG, execution_role_arn="ecsTaskExecutionRole")
    assert by_cluster.parameter_arn("/p") == "arn:aws:ssm:us-east-1:1:parameter/p"
    bare = dataclasses.replace(by_cluster, cluster="production")
    assert bare.parameter_arn("/p") == "/p"  # ECS accepts a name in the task's region
