"""ECS backend: AWS API calls per deploy, scale and rollback, next to a CloudFormation update.

    .venv/bin/python bench/ecs.py            # the changes of one app, then a round at 100 apps
    .venv/bin/python bench/ecs.py --round 100  # only the reconcile round, at 100 apps

Starts `moto_server` on a free loopback port, builds the infrastructure Empire is given
(VPC, cluster, internal and public ALB listeners, private zone, one container instance),
and drives `EcsScheduler` through the changes a user makes to a typical app: `web` (port 80,
HTTP health check), `worker`, and `clock` (cron). Every AWS call is counted with boto3's
`before-call` event hook, by service and operation (SSM Parameter Store included, where
config vars live: one PutParameter per variable of a new release). A release phase is
measured too: its task is ended from the benchmark's own client, which is not counted.

moto completes an ECS deployment at once, so the rollout is followed by one
`DescribeServices` poll here; on AWS there is one poll per `poll_interval` (5 s) for each
10 services while ECS rolls. That part is the same for CloudFormation, which must first
finish its own stack update before ECS even starts.

The CloudFormation column is a model of Go Empire (scheduler/cloudformation/cloudformation.go,
reference/empire.md §6.6, §9): S3 PutObject of the template, ValidateTemplate, DescribeStacks
twice, Create/UpdateStack, then DescribeStacks by the StackUpdateComplete waiter, first at once
and then every 30 s (the waiter's delay in the AWS SDK models) until CloudFormation reports
UPDATE_COMPLETE; each ECS service the update touches goes through Empire's custom resource
(SQS message, UpdateService, the S3 response, DeleteMessage: 3 calls besides the queue's long
poll). Every change is a stack update in Go Empire: scale, config, rollback, domain-add too.
The stack's own processing time is not measurable here (moto's CloudFormation completes at
once); the wait printed is the floor the 30 s waiter imposes, with the stack done in under
30 s.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from ecs.ecs_support import (  # noqa: E402
    AppState,
    Infra,
    an_image,
    client,
    make_infra,
    moto_server,
)
from empire.model import Outcome  # noqa: E402
from empire.scheduler import ManifestProcess  # noqa: E402
from empire.scheduler.ecs import EcsScheduler  # noqa: E402

IMAGE = "acme/acme@sha256:{:064x}"
WAITER_DELAY = 30.0  # s, StackUpdateComplete / StackCreateComplete waiters
SERVICE_POLL = 20.0  # s, Go Empire's `emp deploy -s` stability poll
POLL = 5.0  # s, this backend's DescribeServices poll


class Counting:
    """Counts every AWS call of the scheduler's clients, by `service:Operation`."""

    def __init__(self, infra: Infra) -> None:
        self.calls: Counter[str] = Counter()
        self.polls = 0
        for name in ("ecs", "elbv2", "route53", "events", "logs", "ssm"):
            boto = getattr(infra.clients, name)
            boto.meta.events.register("provide-client-params", self._count(name))

    def _count(self, service: str) -> Callable[..., None]:
        def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
            self.calls[f"{service}:{model.name}"] += 1
            if model.name == "DescribeServices" and "include" not in params:
                self.polls += 1  # the rollout's polls (converge describes with tags)
            if model.name == "DescribeTasks" and "include" not in params:
                self.polls += 1  # the release phase's polls (ps describes with tags)

        return hook

    def measure(self, action: Callable[[], object]) -> tuple[Counter[str], int, float]:
        self.calls.clear()
        self.polls = 0
        started = time.perf_counter()
        action()
        return Counter(self.calls), self.polls, time.perf_counter() - started


def cloudformation(services_changed: int, create: bool = False) -> tuple[int, float]:
    """(calls by Empire, minimum wait in s) of Go Empire's stack update for one change."""
    stack = 4 if create else 5  # PutObject, ValidateTemplate, DescribeStacks (2), Create/Update
    polls = 1 + math.ceil(1 / WAITER_DELAY)  # at once (in progress), then at +30 s (complete)
    custom = 3 * services_changed
    return stack + polls + custom, WAITER_DELAY


ROUND_PROCFILE = b"worker:\n  command: ./bin/worker\n"


def reconcile_round(infra: Infra, counting: Counting, apps: int) -> None:
    """AWS calls of one reconcile round over `apps` steady apps (one service each): a submit
    per app as the round made them before (one DescribeServices each), and the same submits
    in the scheduler's `sweep` (every app's services described together, 10 a call)."""
    scheduler = EcsScheduler(
        infra.clients, infra.config, deadline=60, poll_interval=POLL, prune_interval=0
    )
    states = [
        AppState.new(f"app{n:03d}", f"app-{n:03d}", IMAGE.format(1), ROUND_PROCFILE)
        for n in range(apps)
    ]
    manifests = [state.manifest() for state in states]
    started = time.perf_counter()
    for manifest in manifests:
        verdict = scheduler.submit(manifest)
        assert verdict.outcome is Outcome.SUCCEEDED, verdict
    print(f"{apps} apps created in {time.perf_counter() - started:.0f} s (moto)\n")

    def one_by_one() -> None:
        for manifest in manifests:
            scheduler.submit(manifest)

    def swept() -> None:
        with scheduler.sweep():
            for manifest in manifests:
                scheduler.submit(manifest)

    print(f"Reconcile round, {apps} steady apps of one service each")
    header = f"{'round':<34} {'calls':>5}  {'per app':>7}  moto time  detail"
    print(header)
    print("-" * len(header))
    for label, action in (
        ("a submit per app (before)", one_by_one),
        ("in Scheduler.sweep()", swept),
    ):
        calls, _, took = counting.measure(action)
        total = sum(calls.values())
        detail = ", ".join(f"{op} x{n}" for op, n in sorted(calls.items()))
        print(f"{label:<34} {total:>5}  {total / apps:>7.2f}  {took * 1000:6.0f} ms  {detail}")
    print()


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--round":
        with (
            tempfile.TemporaryDirectory() as scratch,
            moto_server(Path(scratch) / "moto.log") as url,
        ):
            infra = make_infra(url, an_image(url))
            reconcile_round(infra, Counting(infra), int(sys.argv[2]))
        return
    with tempfile.TemporaryDirectory() as scratch, moto_server(Path(scratch) / "moto.log") as url:
        infra = make_infra(url, an_image(url))
        counting = Counting(infra)
        scheduler = EcsScheduler(
            infra.clients, infra.config, deadline=60, poll_interval=POLL, prune_interval=0
        )
        state = AppState.new("acme", "app-acme", IMAGE.format(1))
        rows: list[tuple[str, Counter[str], int, float, tuple[int, float]]] = []
        ecs = client(url, "ecs")  # the benchmark's own, uncounted: it ends the release task

        def submit() -> None:
            verdict = scheduler.submit(state.manifest())
            assert verdict.outcome is Outcome.SUCCEEDED, verdict

        def step(label: str, change: Callable[[], None], cfn: tuple[int, float]) -> None:
            change()
            calls, polls, took = counting.measure(submit)
            rows.append((label, calls, polls, took, cfn))

        step("first deploy (creates all)", lambda: None, cloudformation(2, create=True))
        step(
            "deploy a new image", lambda: _release(state, image=IMAGE.format(2)), cloudformation(2)
        )
        step("scale web 1 -> 3", lambda: state.scale("web", 3), cloudformation(1))
        step("config change", lambda: _release(state, vars={"FOO": "bar"}), cloudformation(2))
        step(
            "rollback to v1",
            lambda: _release(state, image=IMAGE.format(1), vars={}),
            cloudformation(2),
        )
        step(
            "add a domain",
            lambda: setattr(state, "domains", ("acme.example.com",)),
            cloudformation(0),
        )
        step("idle resubmit (reconciler)", lambda: None, (0, 0.0))
        many = {f"VAR_{i:02d}": f"value-{i}" for i in range(20)}
        step("config change, 20 vars", lambda: _release(state, vars=many), cloudformation(2))
        scheduler = EcsScheduler(  # Empire restarted: caches are cold
            infra.clients, infra.config, deadline=60, poll_interval=POLL, prune_interval=0
        )
        step(
            "deploy after a restart",
            lambda: _release(state, image=IMAGE.format(3)),
            cloudformation(2),
        )

        def end_release_task(_: float) -> None:
            for arn in ecs.list_tasks(cluster=infra.config.cluster, startedBy="app-acme")[
                "taskArns"
            ]:
                ecs.stop_task(cluster=infra.config.cluster, task=arn, reason="exited")

        phases = EcsScheduler(
            infra.clients, infra.config, poll_interval=POLL, sleep=end_release_task
        )

        def phase() -> None:
            _release(state, image=IMAGE.format(4))
            manifest = state.manifest()
            web = manifest.process("web")
            assert web is not None
            release = ManifestProcess(
                "release", ("./bin/migrate",), 1, web.cpu_shares, web.memory, web.nproc, web.env
            )
            result = phases.release_phase(manifest, release, timeout=60, output=lambda _: None)
            assert result.exit_code == 0, result

        calls, polls, took = counting.measure(phase)
        rows.append(("release phase (20 vars)", calls, polls, took, (0, 0.0)))

        print("ECS backend (boto3 straight to ECS/ELBv2/Route53/EventBridge), measured against")
        print("moto_server; calls counted with boto3's before-call hooks.")
        print(
            "App: web (port 80, HTTP check) + worker + clock (cron): 2 services, 1 schedule rule.\n"
        )
        cfn = "CloudFormation (modelled)"
        header = f"{'change':<28} {'calls':>5} {'polls':>5}   {cfn:<27}  moto time"
        print(header)
        print("-" * len(header))
        for label, calls, polls, took, (cfn_calls, cfn_wait) in rows:
            total = sum(calls.values())
            cfn = f"{cfn_calls:>2} calls, >= {cfn_wait:.0f} s wait" if cfn_calls else "-"
            print(f"{label:<28} {total:>5} {polls:>5}   {cfn:<27}  {took * 1000:6.0f} ms")
        print()
        for label, calls, _, _, _ in rows:
            detail = ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(calls.items()))
            print(f"{label}: {detail}")
        print(
            "\npolls: DescribeServices while ECS rolls (DescribeTasks for the release phase); "
            "moto completes at once (1 poll). On AWS "
            f"add one per {POLL:.0f} s of rollout for each 10 services; CloudFormation's own "
            f"update comes first, then the same rollout (Go Empire's `-s` polled every "
            f"{SERVICE_POLL:.0f} s)."
        )
        print(
            "CloudFormation (modelled on Go Empire, not measured): PutObject + ValidateTemplate + "
            "DescribeStacks x2 + UpdateStack (CreateStack: one DescribeStacks less), then "
            f"DescribeStacks at once and every {WAITER_DELAY:.0f} s until UPDATE_COMPLETE, plus 3 "
            "custom-resource calls per ECS service the update touches. The wait is the floor the "
            f"{WAITER_DELAY:.0f} s waiter sets when the stack finishes in under "
            f"{WAITER_DELAY:.0f} s; "
            "each further 30 s of stack time adds a poll and 30 s. Go Empire returned after a 2 s "
            "lock wait and let the stack finish (or time out after 10 min) in the background."
        )
        print(
            "Config vars: each new release stores its variables once (PutParameter each, the "
            "release phase's task and the services share them), lists its path, and deletes "
            "the previous release's after the rollout (DeleteParameters, 10 a call). moto pages "
            "DescribeParameters by 10; AWS by 50, so on AWS a listing of up to 50 is one call."
        )
        print(
            "Direct calls: no wait beyond ECS's own rollout; a scale-down, a domain or an idle "
            "resubmit returns as soon as the calls are made."
        )
        print()
        reconcile_round(infra, counting, 100)


def _release(state: AppState, **changes: Any) -> None:
    state.version += 1
    if "image" in changes:
        state.image = changes["image"]
    if "vars" in changes:
        state.vars = changes["vars"]


if __name__ == "__main__":
    main()
