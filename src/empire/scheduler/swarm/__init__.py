"""The Docker Swarm backend: many hosts, one Swarm service per process type, Caddy in front.

`SwarmScheduler(client, router, network=...)` implements the scheduler contract
(`empire.scheduler`) through the engine of a swarm manager:

- one service per process type, `<app>-<process>` (`spec`): replicas = quantity, the size as
  limits, the health check run by the engine, start-first updates that roll back on failure
  after a monitor window, dnsrr endpoints (no IPVS: no VIPs, no routing mesh), the attachable
  overlay network with the aliases `<app>` and `<process>.<app>`;
- `submit` follows each Swarm update to its verdict (`rollout`), Swarm's own rollback included;
- one-off runs: detached as a Swarm job (`runs`), attached as a container of the manager's
  engine on the overlay (`attach`); logs from the services' logs (`logs`); `tasks` with node
  names (`tasks`).

Images must come from a registry every node reaches. Traffic, public and internal, goes
through the router container (`empire.router`) on the overlay network; the route of each app
follows its tasks (`membership`).
"""

from empire.scheduler.swarm.runs import KEEP_RUNS
from empire.scheduler.swarm.scheduler import SwarmScheduler

__all__ = ["KEEP_RUNS", "SwarmScheduler"]
