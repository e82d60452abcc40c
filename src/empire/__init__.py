"""Empire: a self-hosted platform-as-a-service that speaks the Heroku Platform API.

Layers (pinned by import-linter, see pyproject.toml):

    empire.api ──▶ empire.core.Empire ──▶ model · errors · events · procfile · manifest · sizes
                        ├──▶ empire.store      (sql: SQLite | PostgreSQL)
                        ├──▶ empire.scheduler  (docker · swarm · ecs · fake)
                        ├──▶ empire.images     (docker engine · fake; policy: what may be deployed)
                        └──▶ empire.router     (Caddy in front of the docker and swarm backends)
    empire.wiring builds the object graph from Settings; only empire.main and tests import it.
"""

__version__ = "0.1.0"
