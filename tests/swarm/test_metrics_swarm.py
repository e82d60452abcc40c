"""The metrics' Swarm reader on a real two-node swarm: running and desired per process type,
and restarts from the task history."""

from __future__ import annotations

from empire.metrics.swarm import SwarmReader
from empire.model import Outcome, Process
from support.waiting import wait_for
from swarm.test_services import SMALL, sh, web


def test_counts_and_restarts_from_services_and_tasks(cluster, scheduler, new_app, make_manifest):
    app = new_app()
    # The crasher exits after a second, again and again: Swarm starts another task each time.
    crasher = Process("crasher", sh("sleep 1; exit 3"), 1, SMALL)
    manifest = make_manifest(app, 1, {"web": web(2), "crasher": crasher})
    scheduler.submit(manifest)  # the crasher never becomes healthy: the verdict is no matter
    reader = SwarmReader(cluster.manager.api)
    apps = {app.id: app.name}

    def readings() -> dict[str, object]:
        return {r.process: r for r in reader.read(apps)}

    web_reading = wait_for(
        lambda: (r := readings().get("web")) and r.running == 2 and r,  # type: ignore[union-attr]
        60,
        "both web tasks running",
    )
    assert (web_reading.desired, web_reading.restarts) == (2, 0)
    crashes = wait_for(
        lambda: (r := readings().get("crasher")) and r.restarts >= 2 and r,  # type: ignore[union-attr]
        90,
        "the crasher's failed tasks counted",
    )
    assert crashes.desired == 1
    assert reader.read({}) == []  # apps Empire does not run make no readings
    assert scheduler.submit(make_manifest(app, 1, {"web": web(0)})).outcome is Outcome.SUCCEEDED
    wait_for(lambda: readings().get("web").running == 0, 60, "web scaled to 0")  # type: ignore[union-attr]
