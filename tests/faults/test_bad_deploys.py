"""Bad deploys end with a clear verdict, and the previous release keeps serving.

Three releases that cannot run, deployed one after the other over a good v1 under a bounded
load: an image the registry does not have (refused before any release is made), a process that
exits at once and one that never becomes healthy (both rolled back, with the reason).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from support.faults import FaultStack, Load, record
from support.services import Registry

APP, HOST = "hopeful", "hopeful.fx.test"


def test_bad_deploys_end_with_a_verdict_and_v1_keeps_serving(
    make_stack: Callable[..., FaultStack], images: Any, tmp_path: Path
) -> None:
    stack = make_stack(env={"EMPIRE_HEALTH_TIMEOUT": "4"})
    assert stack.deploy(images.web, APP).verdict == f"Status: Release v1 of {APP} succeeded"
    assert stack.call("POST", f"/apps/{APP}/domains", json={"hostname": HOST}).status_code == 201
    assert stack.converge(APP, HOST) == []

    problems: list[str] = []
    with Registry(tmp_path) as registry:
        cases = [
            ("deploy: image does not exist", f"{registry.address}/empire-fx/nothing:v1"),
            ("deploy: process exits at once", images.crash),
            ("deploy: never healthy", images.mute),
        ]
        for fault, image in cases:
            before = stack.releases(APP)
            load = Load(stack, HOST, accept=lambda body: body.startswith("v1-")).start()
            try:
                said = stack.deploy(image, APP)
                found = stack.converge(APP, HOST)  # v1 current and serving, nothing else runs
            finally:
                load.stop()
            after = stack.releases(APP)
            version = len(before) + 1
            if "does not exist" in fault:
                # Refused before a release is made: a 404 that names the image.
                if said.status != 404 or "nothing" not in said.error:
                    found.append(f"answered {said.status} {said.error[:200]}")
                if len(after) != len(before):
                    found.append(f"a release was made: {[r['version'] for r in after]}")
            else:
                wanted = f"release v{version} of {APP} was rolled back: v{version} was not healthy"
                why = "exited with code 3" if "exits" in fault else "was not healthy after 4s"
                if not (said.verdict.startswith(wanted) and why in said.verdict):
                    found.append(f"the stream ended with {said.verdict!r}")
                release = next((r for r in after if r["version"] == version), None)
                if release is None or release["outcome"] != "rolled_back":
                    found.append(f"v{version} is recorded as {release}")
            if load.failures:
                first = [(s, b[:60]) for _, s, b in load.failures[:3]]
                found.append(f"{len(load.failures)}/{len(load.results)} requests failed: {first}")
            lost = sum(1 for r in before if r["version"] not in {a["version"] for a in after})
            record(
                fault,
                survived=not found,
                requests=len(load.results),
                failed=len(load.failures),
                lost=lost,
            )
            problems += [f"{fault}: {p}" for p in found]
    assert not problems, "\n".join(problems)
