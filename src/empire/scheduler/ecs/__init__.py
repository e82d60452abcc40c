"""The Amazon ECS backend: boto3 straight to ECS, ELBv2, Route53, EventBridge and SSM.

`EcsScheduler(make_clients(region), EcsConfig(...))` implements the scheduler contract
(`empire.scheduler`): a task definition per process and release, its config vars in SSM
Parameter Store (SecureStrings the container's `secrets` name), an ECS service per process
(rolling 100/200 % with the deployment circuit breaker), a target group (explicit health
check and drain) and host rules on the shared ALB listeners for processes with ports,
Route53 private-zone records, EventBridge rules for cron processes, `run_task` for detached
one-offs and the release phase (awaited, its output from CloudWatch Logs), `ps` from the
tasks, CloudWatch logs, and `remove`/`prune` by the app-id tag. No CloudFormation: a deploy
takes as long as ECS needs.
"""

from empire.scheduler.ecs.aws import Aws, AwsError, Clients, make_clients
from empire.scheduler.ecs.config import EcsConfig
from empire.scheduler.ecs.cron import expression as cron_expression
from empire.scheduler.ecs.scheduler import ATTACHED, EcsScheduler

__all__ = [
    "ATTACHED",
    "Aws",
    "AwsError",
    "Clients",
    "EcsConfig",
    "EcsScheduler",
    "cron_expression",
    "make_clients",
]
