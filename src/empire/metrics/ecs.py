"""What runs on Amazon ECS: per app and process type, what DescribeServices says.

The installation's services (found by their tags, as the backend finds them) give running and
desired counts. ECS reports no per-task CPU time or memory through its control-plane API:
CloudWatch's `AWS/ECS` metrics (`CPUUtilization`, `MemoryUtilization` per `ClusterName` and
`ServiceName`, and Container Insights) have them; the README says how to read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from empire.metrics.window import ProcessReading

if TYPE_CHECKING:
    from empire.scheduler.ecs import EcsScheduler


class EcsReader:
    def __init__(self, scheduler: EcsScheduler) -> None:
        from empire.scheduler.ecs.services import Services

        self._services = Services(scheduler.aws, scheduler.config)

    def read(self, apps: Mapping[str, str]) -> list[ProcessReading]:
        from empire.scheduler.ecs.config import PROCESS, read_tags

        readings = []
        for owner, service in self._services.owned().values():
            process = read_tags(service.get("tags")).get(PROCESS)
            if owner not in apps or not process:
                continue
            readings.append(
                ProcessReading(
                    owner,
                    apps[owner],
                    process,
                    int(service.get("runningCount") or 0),
                    desired=int(service.get("desiredCount") or 0),
                )
            )
        return readings
