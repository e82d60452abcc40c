"""Schema migrations with Alembic, driven from code (`empire migrate`, automatic in dev).

Alembic is imported only when a migration actually runs: a server whose database is already
at `HEAD` never loads it (it costs several megabytes of memory).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

if TYPE_CHECKING:
    from empire.secrets import Cipher

HEAD = "0007"  # the newest revision in migrations/versions; a test checks they agree
_SCRIPTS = str(Path(__file__).parent / "migrations")


def _config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    return config


def head() -> str:
    """Return the newest schema revision this code knows."""
    return HEAD


def scripts_head() -> str | None:
    """Return the newest revision among the migration scripts (Alembic's own answer)."""
    from alembic.script import ScriptDirectory

    result: str | None = ScriptDirectory.from_config(_config()).get_current_head()
    return result


def current(engine: Engine) -> str | None:
    """Return the database's schema revision, or None for an empty database."""
    try:
        with engine.connect() as conn:
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None
    return str(revision) if revision is not None else None


def upgrade(engine: Engine, revision: str = "head", *, cipher: Cipher | None = None) -> None:
    """Migrate the database up to `revision` (nothing to do, and no Alembic, when at HEAD).

    `cipher` is the store's: the migrations that encrypt data at rest use it (without one they
    leave the rows readable as they are, and `empire keys rotate` encrypts them).
    """
    if revision in ("head", HEAD) and current(engine) == HEAD:
        return
    from alembic import command

    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        config.attributes["cipher"] = cipher
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, *, cipher: Cipher | None = None) -> None:
    """Migrate the database down to `revision` (`cipher`: to decrypt what a later revision
    encrypted)."""
    from alembic import command

    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        config.attributes["cipher"] = cipher
        command.downgrade(config, revision)
