"""Docker backend figures, each beside the floor it is compared with, in one run.

    .venv/bin/python bench/docker_backend.py

Starts `empire server` (Docker scheduler, its router container) on free loopback ports, builds
busybox httpd images locally (no pulls), and measures:
- deploy → first 200 from the new release through the router (median), against a bare
  `docker run` + wait-for-HTTP of the same image, and what a deploy call costs in all (the
  drain of the old instances included);
- rollback → serving (median);
- zero loss: probes inside the app network (`http://<app>/` with a new connection per request
  and with one kept alive, `http://web.<app>/`) and outside (through the router, both ways)
  while 10 deploys, 10 rollbacks, 5 scale changes and 3 restarts run: failed requests per
  column;
- the router killed (kill -9) under load: until it serves again;
- scale web 1 → 20, against starting 20 containers directly.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.probes import Probes, netns_of  # noqa: E402
from support.server import EmpireServer  # noqa: E402
from support.services import free_port  # noqa: E402

PROCFILE = 'web: sh -c "echo $EMPIRE_RELEASE > /www/index.html; exec httpd -f -p $PORT -h /www"\n'
PHASED = PROCFILE + "release: true\n"
ROUNDS = 5
DRAIN = 2  # EMPIRE_DRAIN_SECONDS, as by default


def build_images(
    client: docker.DockerClient, repo: str, count: int, workdir: Path, procfile: str = PROCFILE
) -> list[str]:
    shutil.copy2("/usr/bin/busybox", workdir / "busybox")
    (workdir / "Procfile").write_text(procfile)
    tags = []
    for n in range(1, count + 1):
        (workdir / "Dockerfile").write_text(
            "FROM scratch\nCOPY busybox /bin/busybox\n"
            'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            f"WORKDIR /app\nCOPY Procfile Procfile\nRUN mkdir -p /www /tmp && echo {n} > /v\n"
        )
        client.images.build(path=str(workdir), tag=f"{repo}:v{n}", rm=True)
        tags.append(f"{repo}:v{n}")
    return tags


def wait_for(router: str, host: str, text: str, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                r = client.get(f"http://{router}/", headers={"Host": host})
                if r.status_code == 200 and r.text.strip() == text:
                    return time.monotonic()
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise SystemExit(f"{host} never served {text!r}")


def timed_until_serving(call, router: str, host: str, text: str) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    worker = threading.Thread(target=call)
    worker.start()
    served = wait_for(router, host, text)
    worker.join()
    return served - start


def bare_docker_run(client: docker.DockerClient, image: str) -> float:
    start = time.monotonic()
    container = client.containers.run(
        image,
        ["sh", "-c", "echo bare > /www/index.html; exec httpd -f -p 80 -h /www"],
        detach=True,
        ports={"80/tcp": ("127.0.0.1", None)},
    )
    try:
        container.reload()
        port = container.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        with httpx.Client(timeout=1) as http:
            while True:
                try:
                    if http.get(f"http://127.0.0.1:{port}/").status_code == 200:
                        return time.monotonic() - start
                except httpx.HTTPError:
                    time.sleep(0.005)
    finally:
        container.remove(force=True)


def bare_twenty(client: docker.DockerClient, image: str) -> float:
    start = time.monotonic()
    containers = [
        client.containers.run(
            image,
            ["sh", "-c", "echo x > /www/index.html; exec httpd -f -p 80 -h /www"],
            detach=True,
            ports={"80/tcp": ("127.0.0.1", None)},
        )
        for _ in range(20)
    ]
    try:
        with httpx.Client(timeout=1) as http:
            for container in containers:
                container.reload()
                port = container.attrs["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
                while True:
                    try:
                        if http.get(f"http://127.0.0.1:{port}/").status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.005)
        return time.monotonic() - start
    finally:
        for container in containers:
            container.remove(force=True)


def main() -> None:
    client = docker.from_env()
    repo = f"bench-{uuid.uuid4().hex[:6]}"
    network = f"empire-bench-{uuid.uuid4().hex[:6]}"
    router = f"127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        tags = build_images(client, repo, ROUNDS + 12, Path(tmp))
        phased = build_images(client, f"{repo}-phase", ROUNDS, Path(tmp), PHASED)
        server = EmpireServer(
            Path(tmp) / "empire",
            env={
                "EMPIRE_SCHEDULER": "docker",
                "EMPIRE_ROUTER_CONTAINER": f"{network}-router",
                "EMPIRE_ROUTER_LISTEN": router,
                "EMPIRE_ROUTER_TLS_LISTEN": f"127.0.0.1:{free_port()}",
                "EMPIRE_DOCKER_NETWORK": network,
                "EMPIRE_RATE_LIMIT_PER_HOUR": "0",
                "EMPIRE_DRAIN_SECONDS": str(DRAIN),
            },
        )
        server.data_dir.mkdir(parents=True)
        token = server.create_user("bench")
        server.start()
        api = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=120
        )
        host = "bench.example.test"
        try:

            def deploy(tag: str) -> None:
                with api.stream("POST", f"/apps/{repo}/deploys", json={"image": tag}) as r:
                    for _ in r.iter_lines():
                        pass

            api.post("/apps", json={"name": repo})
            deploy(tags[0])
            api.post(f"/apps/{repo}/domains", json={"hostname": host})
            wait_for(router, host, "v1")
            version = 1
            deploys, bares, rollbacks = [], [], []
            for tag in tags[1 : ROUNDS + 1]:
                version += 1
                deploys.append(
                    timed_until_serving(lambda t=tag: deploy(t), router, host, f"v{version}")
                )
                bares.append(bare_docker_run(client, tag))
            # The same deploys with a release phase (`release: true`): what the phase adds.
            with_phase = []
            for tag in phased:
                version += 1
                with_phase.append(
                    timed_until_serving(lambda t=tag: deploy(t), router, host, f"v{version}")
                )
            for _ in range(ROUNDS):
                version += 1
                target = str(version - 2)
                rollbacks.append(
                    timed_until_serving(
                        lambda t=target: api.post(f"/apps/{repo}/releases", json={"release": t}),
                        router,
                        host,
                        f"v{version}",
                    )
                )

            # Zero loss, inside and outside, through 10 deploys, 10 rollbacks, 5 scales and
            # 3 restarts.
            address = client.api.inspect_container(f"{network}-router")["NetworkSettings"]
            inside_client = client.containers.run(
                tags[0],
                ["sleep", "3600"],
                network=network,
                dns=[address["Networks"][network]["IPAddress"]],
                labels={"empire.network": network},
                detach=True,
            )
            inside = {"netns": netns_of(client.api, inside_client.id), "dns": "127.0.0.11"}
            probes = Probes()
            probes.start("internal fresh", f"http://{repo}/", repo, "fresh", **inside)
            probes.start("internal keep-alive", f"http://{repo}/", repo, "keepalive", **inside)
            web = f"web.{repo}"
            probes.start("internal web.<app> fresh", f"http://{web}/", web, "fresh", **inside)
            probes.start(
                "internal web.<app> keep-alive", f"http://{web}/", web, "keepalive", **inside
            )
            probes.start("public fresh", f"http://{router}/", host, "fresh")
            probes.start("public keep-alive", f"http://{router}/", host, "keepalive")
            started = time.monotonic()
            actions = 0
            calls = []
            for i in range(10):
                began = time.monotonic()
                deploy(tags[ROUNDS + 1 + i % 10])
                calls.append(time.monotonic() - began)
                api.post(f"/apps/{repo}/releases", json={"release": str(version)})
                version += 2
                actions += 2
                if i % 2 == 0:
                    api.patch(
                        f"/apps/{repo}/formation",
                        json={"updates": [{"type": "web", "quantity": 2 + (i // 2) % 2}]},
                    )
                    actions += 1
                if i in (1, 5, 9):
                    api.delete(f"/apps/{repo}/dynos")
                    actions += 1
            results = probes.finish()
            inside_client.remove(force=True)
            elapsed = time.monotonic() - started

            # The router killed under load: until every request answers again.
            probes.start("public during the kill", f"http://{router}/", host, "fresh")
            time.sleep(1)
            pid = client.api.inspect_container(f"{network}-router")["State"]["Pid"]
            killed = time.monotonic()
            os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.2)
            back = wait_for(router, host, f"v{version}", timeout=30) - killed
            time.sleep(1)
            outage = probes.finish()["public during the kill"]

            api.patch(f"/apps/{repo}/formation", json={"updates": [{"type": "web", "quantity": 1}]})
            start = time.monotonic()
            api.patch(
                f"/apps/{repo}/formation", json={"updates": [{"type": "web", "quantity": 20}]}
            )
            scale = time.monotonic() - start
            running = [t for t in api.get(f"/apps/{repo}/dynos").json() if t["state"] == "up"]
            api.patch(f"/apps/{repo}/formation", json={"updates": [{"type": "web", "quantity": 1}]})
            direct = bare_twenty(client, tags[0])
        finally:
            api.delete(f"/apps/{repo}")
            api.close()
            server.stop()
            for c in client.containers.list(
                all=True, filters={"label": f"empire.network={network}"}
            ):
                c.remove(force=True)
            for net in client.networks.list(names=[network]):
                net.remove()
            for tag in tags + phased:
                client.images.remove(tag, force=True)

    d, b, rb = statistics.median(deploys), statistics.median(bares), statistics.median(rollbacks)
    print(
        f"deploy -> first 200 of the new release through the router: median {d:.2f} s "
        f"(target <= 1.5 s); bare docker run + wait-for-HTTP: median {b:.2f} s; "
        f"ratio {d / b:.1f}x  (samples {[round(x, 2) for x in deploys]})"
    )
    p = statistics.median(with_phase)
    print(
        f"deploy -> serving with a release phase (`true`): median {p:.2f} s, {p - d:+.2f} s "
        f"over none (target <= +0.5 s)  (samples {[round(x, 2) for x in with_phase]})"
    )
    print(
        f"rollback -> serving: median {rb:.2f} s (target <= 1.5 s) "
        f"(samples {[round(x, 2) for x in rollbacks]})"
    )
    print(
        f"a deploy call (start, health, shift, drain of {DRAIN} s, stop): median "
        f"{statistics.median(calls):.2f} s"
    )
    print(f"zero loss during {actions} deploys/rollbacks/scales/restarts in {elapsed:.0f} s:")
    for name, result in results.items():
        print(
            f"  {name:22} {result['failed']:>4} failed of {result['total']:>5} "
            f"({result['connections']} connections; target 0 failed)"
        )
    print(
        f"router killed (kill -9) under load: serving again after {back:.2f} s "
        f"(target <= 2 s); {outage['failed']} of {outage['total']} requests failed meanwhile"
    )
    print(
        f"scale web 1 -> 20: {scale:.2f} s ({len(running)} up); 20 containers started "
        f"directly: {direct:.2f} s; ratio {scale / direct:.2f}x"
    )


if __name__ == "__main__":
    main()
