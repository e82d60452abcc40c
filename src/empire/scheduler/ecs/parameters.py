"""Config vars as SSM Parameter Store SecureStrings, so no task definition holds one in clear.

Each release's config vars are stored once, one SecureString per variable (encrypted with
the account's default `aws/ssm` KMS key), as `/empire/<cluster>/<app id>/v<release>/<NAME>`.
Task definitions name them in the container's `secrets` (`valueFrom`: the parameter's ARN);
ECS's agent reads them with the execution role when a task starts. What is not a config var
(EMPIRE_APPNAME, PORT, the Procfile's own `environment`) stays in `environment`, and so does
an empty value (Parameter Store refuses empty values, and an empty string is no secret).
EMPIRE_TASK_ROLE_ARN is read by the backend and never passed to the container.

A release's config never changes (a rollback is a new release with its own parameters), so
its parameters are written before the first task definition naming them is registered, and
a restarted Empire finds them with one listing instead of writing them again. They are
deleted once a later release has rolled out, at the moment the task definitions naming them
are deregistered, and with the app: old releases' parameters are not kept for rollbacks,
which never read them.

Errors never carry a value: AWS's validation messages can quote what they refuse, so they
are redacted before they become a `SchedulerError`.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from empire.scheduler import Manifest, ManifestProcess
from empire.scheduler.ecs.aws import Aws, AwsError, chunks
from empire.scheduler.ecs.config import RELEASE, TASK_ROLE_VAR, EcsConfig, aws_tags

SECURE = "SecureString"
# Standard tier up to 4 KB, advanced (8 KB) only for the values that need it.
TIER = "Intelligent-Tiering"
_PAGE = 50  # DescribeParameters' largest page
_BATCH = 10  # DeleteParameters' largest batch


def secrets(manifest: Manifest) -> dict[str, str]:
    """The config vars that go to Parameter Store: every non-empty one but the task role."""
    return {k: v for k, v in sorted(manifest.env.items()) if v and k != TASK_ROLE_VAR}


def container_env(
    config: EcsConfig, manifest: Manifest, process: ManifestProcess
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The container's `environment` and `secrets`: config vars by reference, the rest as is."""
    stored = secrets(manifest)
    path = config.parameters_path(manifest.app_id, manifest.release)
    environment: list[dict[str, str]] = []
    references: list[dict[str, str]] = []
    for name, value in sorted(process.env.items()):
        if name == TASK_ROLE_VAR:
            continue
        if name in stored and stored[name] == value:
            references.append({"name": name, "valueFrom": config.parameter_arn(f"{path}/{name}")})
        else:
            environment.append({"name": name, "value": value})
    return environment, references


class Parameters:
    """Writes, lists and deletes the installation's parameters."""

    def __init__(self, aws: Aws, config: EcsConfig) -> None:
        self._aws = aws
        self._config = config
        self._written: set[tuple[str, int]] = set()
        self._guard = threading.Lock()

    def ensure(self, manifest: Manifest) -> None:
        """Store the release's config vars, unless this scheduler (or a listing) saw them."""
        key = (manifest.app_id, manifest.release)
        with self._guard:
            if key in self._written:
                return
        wanted = secrets(manifest)
        if wanted:
            path = self._config.parameters_path(manifest.app_id, manifest.release)
            existing = set(self.listed(path))
            tags = aws_tags(
                self._config.tags(
                    manifest.app_id, manifest.app_name, **{RELEASE: f"v{manifest.release}"}
                )
            )
            for name, value in wanted.items():
                full = f"{path}/{name}"
                if full not in existing:
                    self._put(full, name, manifest.release, value, tags)
        with self._guard:
            self._written.add(key)

    def listed(self, path: str) -> list[str]:
        """The names of the parameters under `path` (recursively)."""
        names: list[str] = []
        for page in self._aws.pages(
            "list the config parameters",
            self._aws.ssm.describe_parameters,
            "NextToken",
            "NextToken",
            ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [path]}],
            MaxResults=_PAGE,
        ):
            names += [str(p["Name"]) for p in page.get("Parameters", [])]
        return names

    def by_app(self) -> dict[str, list[str]]:
        """Every parameter of this installation, by app id."""
        root = self._config.parameters_path()
        found: dict[str, list[str]] = defaultdict(list)
        for name in self.listed(root):
            app_id = name.removeprefix(f"{root}/").split("/", 1)[0]
            if app_id and name.startswith(f"{root}/{app_id}/"):
                found[app_id].append(name)
        return dict(found)

    def prune(self, app_id: str, current: int) -> None:
        """Delete the parameters of the app's releases older than `current`."""
        root = self._config.parameters_path(app_id)
        old = [n for n in self.listed(root) if 0 <= _release(root, n) < current]
        self.delete(old)
        with self._guard:
            self._written = {k for k in self._written if k[0] != app_id or k[1] >= current}

    def wrote(self, app_id: str) -> bool:
        """Whether this scheduler stored (or found) parameters of the app."""
        with self._guard:
            return any(k[0] == app_id for k in self._written)

    def forget(self, app_id: str) -> None:
        """Drop what this scheduler remembers writing for the app (its parameters are gone)."""
        with self._guard:
            self._written = {k for k in self._written if k[0] != app_id}

    def delete(self, names: Iterable[str]) -> None:
        """Delete parameters, ten a call; missing ones are fine."""
        for batch in chunks(sorted(names), _BATCH):
            self._aws.must("delete config parameters", self._aws.ssm.delete_parameters, Names=batch)

    def _put(self, full: str, name: str, release: int, value: str, tags: Any) -> None:
        action = f"store config var {name} of release v{release} in Parameter Store"
        common: Mapping[str, Any] = {"Name": full, "Value": value, "Type": SECURE, "Tier": TIER}
        try:
            try:
                self._aws.must(action, self._aws.ssm.put_parameter, **common, Tags=tags)
            except AwsError as e:
                if e.code != "ParameterAlreadyExists":
                    raise
                # Written before by a submit that did not finish: tags cannot go with Overwrite.
                self._aws.must(action, self._aws.ssm.put_parameter, **common, Overwrite=True)
        except AwsError as e:
            raise AwsError(_redact(str(e), value), e.code) from None


def _release(root: str, name: str) -> int:
    """The release number of `<root>/v<n>/<NAME>`, else -1."""
    part = name.removeprefix(f"{root}/").split("/", 1)[0]
    return int(part[1:]) if part[:1] == "v" and part[1:].isdigit() else -1


def _redact(message: str, value: str) -> str:
    return message.replace(value, "<the value>") if value else message
