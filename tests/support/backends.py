"""Ending a PostgreSQL backend the way a server restart would, for connection-loss tests."""

from __future__ import annotations

from sqlalchemy import text

from empire.store.sql import connect
from support.waiting import wait_for


def end_backend(url: str, pid: int) -> None:
    """Terminate backend `pid` and wait until it is gone (and its end of the socket with it)."""
    engine = connect(url)
    try:
        with engine.connect() as admin:
            ended = admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            assert ended.scalar_one() is True
            admin.commit()
            # The call returns once the signal is sent, before the backend has exited.
            gone = text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")

            def ended() -> bool:
                left: int = admin.execute(gone, {"pid": pid}).scalar_one()
                admin.commit()
                return left == 0

            wait_for(ended, 10, f"backend {pid} to end", interval=0.05)
    finally:
        engine.dispose()
