"""ECS services: one per long-running process, `<app>_<process>` in the cluster.

Services roll with minimum healthy 100 % and maximum 200 % (start new tasks, then stop old
ones) and the deployment circuit breaker with rollback. They are spread over availability
zones, then instances, and carry the app's tags, which ECS copies from the task definition
to each task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from empire.scheduler import ManifestProcess
from empire.scheduler.ecs.aws import Aws, chunks
from empire.scheduler.ecs.config import EcsConfig, ecs_tags, read_tags

DEPLOYMENT = {
    "minimumHealthyPercent": 100,
    "maximumPercent": 200,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}
PLACEMENT = [
    {"type": "spread", "field": "attribute:ecs.availability-zone"},
    {"type": "spread", "field": "instanceId"},
]


def load_balancers(process: ManifestProcess, target_group: str | None) -> list[dict[str, Any]]:
    if target_group is None or not process.ports:
        return []
    return [
        {
            "targetGroupArn": target_group,
            "containerName": process.name,
            "containerPort": process.ports[0].container,
        }
    ]


class Services:
    """Lists, creates, updates and deletes the cluster's services."""

    def __init__(self, aws: Aws, config: EcsConfig) -> None:
        self._aws = aws
        self._config = config
        self._cluster = config.cluster

    def names(self, prefix: str = "") -> list[str]:
        """The names of the cluster's services that start with `prefix`."""
        found = []
        for page in self._aws.pages(
            "list the cluster's services",
            self._aws.ecs.list_services,
            "nextToken",
            "nextToken",
            cluster=self._cluster,
            maxResults=100,
        ):
            for arn in page.get("serviceArns", []):
                name = str(arn).rsplit("/", 1)[-1]
                if name.startswith(prefix):
                    found.append(name)
        return found

    def describe(self, names: Sequence[str]) -> dict[str, Any]:
        """The ACTIVE services among `names`, with their tags, by name."""
        found: dict[str, Any] = {}
        for batch in chunks(list(names), 10):
            page = self._aws.must(
                "describe services",
                self._aws.ecs.describe_services,
                cluster=self._cluster,
                services=batch,
                include=["TAGS"],
            )
            for service in page.get("services", []):
                if service.get("status") == "ACTIVE":
                    found[str(service["serviceName"])] = service
        return found

    def owned(self, prefix: str = "") -> dict[str, tuple[str, Any]]:
        """This installation's services (name -> (app id, service)), found by their tags."""
        found = {}
        for name, service in self.describe(self.names(prefix)).items():
            owner = self._config.owner(read_tags(service.get("tags")))
            if owner is not None:
                found[name] = (owner, service)
        return found

    def create(
        self,
        name: str,
        task_definition: str,
        process: ManifestProcess,
        target_group: str | None,
        tags: dict[str, str],
    ) -> Any:
        balancers = load_balancers(process, target_group)
        extra: dict[str, Any] = {}
        if balancers:
            grace = process.healthcheck.grace if process.healthcheck else 0.0
            extra["healthCheckGracePeriodSeconds"] = int(max(grace, 0))
        found = self._aws.must(
            f"create service {name}",
            self._aws.ecs.create_service,
            cluster=self._cluster,
            serviceName=name,
            taskDefinition=task_definition,
            desiredCount=max(process.quantity, 0),
            launchType="EC2",
            schedulingStrategy="REPLICA",
            deploymentConfiguration=DEPLOYMENT,
            networkConfiguration=self._config.network(),
            loadBalancers=balancers,
            placementStrategy=PLACEMENT,
            tags=ecs_tags(tags),
            propagateTags="TASK_DEFINITION",
            enableECSManagedTags=True,
            **extra,
        )
        return found["service"]

    def changes(
        self,
        service: Any,
        task_definition: str,
        process: ManifestProcess,
        target_group: str | None,
    ) -> dict[str, Any]:
        """The `update_service` fields that differ from what the service has."""
        fields: dict[str, Any] = {}
        if service.get("taskDefinition") != task_definition:
            fields["taskDefinition"] = task_definition
        if service.get("desiredCount") != max(process.quantity, 0):
            fields["desiredCount"] = max(process.quantity, 0)
        if service.get("deploymentConfiguration") != DEPLOYMENT:
            fields["deploymentConfiguration"] = DEPLOYMENT
        balancers = load_balancers(process, target_group)
        if _balancers(service.get("loadBalancers")) != _balancers(balancers):
            fields["loadBalancers"] = balancers
        return fields

    def update(self, name: str, **fields: Any) -> Any:
        found = self._aws.must(
            f"update service {name}",
            self._aws.ecs.update_service,
            cluster=self._cluster,
            service=name,
            **fields,
        )
        return found["service"]

    def delete(self, name: str) -> None:
        """Stop every task of the service and delete it; a missing service is fine."""
        self._aws.call(
            f"delete service {name}",
            self._aws.ecs.delete_service,
            ok=("ServiceNotFoundException", "ServiceNotActiveException"),
            cluster=self._cluster,
            service=name,
            force=True,
        )


def primary(service: Any) -> str:
    """The id of the service's PRIMARY deployment ("" when it has none)."""
    for deployment in service.get("deployments", []):
        if deployment.get("status") == "PRIMARY":
            return str(deployment["id"])
    return ""


def target_groups(service: Any) -> set[str]:
    return {
        str(b["targetGroupArn"])
        for b in service.get("loadBalancers", [])
        if b.get("targetGroupArn")
    }


def _balancers(items: Any) -> list[tuple[str, str, int]]:
    return sorted(
        (str(b.get("targetGroupArn")), str(b.get("containerName")), int(b.get("containerPort", 0)))
        for b in items or []
    )
