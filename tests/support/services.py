"""Real services for the test tiers: throwaway, on free loopback ports, in temp dirs.

Nothing here imports pytest; the tiers' conftest.py files wrap these in fixtures.

Every daemon is a direct child of the test process, started in its own session
(so its own process group) and stopped with a signal and a wait, so it is
reaped: nothing else on these machines reaps orphans. A daemon that does not
stop in time is killed. An ``atexit`` hook stops whatever a crashed run left.

- :func:`free_port` - a free TCP port on 127.0.0.1.
- :func:`ensure_dockerd` - the machine's main Docker engine answers (``scripts/dockerd-up``).
- :class:`PostgresCluster` - a private PostgreSQL server (no ``pg_createcluster``).
- :class:`Registry` - Debian's ``docker-registry`` with filesystem storage.
- :class:`CaddyServer` - ``caddy run`` with its admin API on a free port.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, LiteralString, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ServiceError(RuntimeError):
    """A service did not start or stop as it should."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ensure_dockerd() -> None:
    """Make sure the machine's main Docker engine answers on /var/run/docker.sock."""
    script = REPO_ROOT / "scripts" / "dockerd-up"
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise ServiceError(
            f"{script} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
        )


def http_status(url: str, timeout: float = 1.0) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------- processes

_live: set[Daemon] = set()


@atexit.register
def _stop_leftovers() -> None:
    for daemon in list(_live):
        with contextlib.suppress(Exception):
            daemon.stop()


class Daemon:
    """One long-running child process, logged to a file, in its own process group."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.user = user
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        with open(self.log_path, "ab") as log:
            log.write(f"\n==== starting: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                **_as_user(self.user),
            )
        _live.add(self)

    def stop(self, timeout: float = STOP_TIMEOUT, sig: signal.Signals | None = None) -> None:
        """Send the stop signal (or ``sig``), wait; kill the whole group if it overstays."""
        proc = self.proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig or self.stop_signal)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout)
        finally:
            _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the process group at once (for fault tests), and reap.

        Only for daemons without children: children orphaned by the kill are
        never reaped on these machines and stay as zombies.
        """
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT)
        _live.discard(self)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout: float = START_TIMEOUT
    ) -> None:
        """Poll ``ready`` until true; fail early, with the log, if the process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if not self.running:
                code = self.proc.returncode if self.proc else None
                raise ServiceError(
                    f"{self.name} exited (status {code}) before {what}; "
                    f"{self.log_path}:\n{self.log_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} not {what} after {timeout:.0f}s; "
                    f"{self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)


def _as_user(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop root to ``user`` (nothing when not root or no user)."""
    if user is None or os.geteuid() != 0:
        return {}
    pw = pwd.getpwnam(user)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


class _Service:
    """Common lifecycle: a temp dir, start/stop, context manager, close."""

    name = "service"

    def __init__(self, base_dir: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"empire-{self.name}-", dir=base_dir))
        self._closed = False

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop and remove the temp dir (data included)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        """Start; a start that fails is closed at once (its temp dir, a half-started daemon)."""
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """``/usr/lib/postgresql/<highest installed version>/bin``."""
    found: list[tuple[int, Path]] = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if re.fullmatch(r"\d+", d.parent.name) and (d / "initdb").exists():
            found.append((int(d.parent.name), d))
    if not found:
        raise ServiceError("no PostgreSQL server under /usr/lib/postgresql (run scripts/bootstrap)")
    return max(found)[1]


class PostgresCluster(_Service):
    """A private PostgreSQL server on 127.0.0.1, data in a temp dir, trust auth.

    ``initdb`` runs once (as the ``postgres`` user when we are root); the server
    binary runs as our own child, so ``stop()`` reaps it. ``stop()`` is a fast
    shutdown (what ``pg_ctl stop -m fast`` sends); ``start()`` brings the same
    data back on the same port, so ``url`` stays valid across a stop/start.
    """

    name = "pg"
    user = "postgres"
    database = "empire"

    def __init__(self, base_dir: Path | None = None, port: int | None = None) -> None:
        super().__init__(base_dir)
        self.bindir = postgres_bindir()
        self.version = int(self.bindir.parent.name)
        self.port = port or free_port()
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "sock"
        self.log_path = self.dir / "postgres.log"
        self._initialized = False
        self._as_root = os.geteuid() == 0
        self.socket_dir.mkdir()
        if self._as_root:
            # initdb and postgres refuse to run as root: the postgres user owns it all.
            pw = pwd.getpwnam(self.user)
            for path in (self.dir, self.socket_dir):
                os.chown(path, pw.pw_uid, pw.pw_gid)
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            # Throwaway data: durability against OS crashes is not needed.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self.daemon = Daemon(
            f"postgres {self.version}",
            argv,
            self.log_path,
            env=self._env(),
            cwd=self.dir,
            user=self.user if self._as_root else None,
            stop_signal=signal.SIGINT,  # "fast" shutdown
        )

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``empire`` database."""
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str | None = None) -> str:
        """libpq connection string (for psycopg or psql)."""
        db = database or self.database
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={db}"

    @property
    def running(self) -> bool:
        return self.daemon.running

    def start(self) -> None:
        if self.daemon.running:
            return
        if not self._initialized:
            self._initdb()
        self.daemon.start()
        self.daemon.wait_until(self._accepts, "accepting connections")
        if not self._initialized:
            self.create_database(self.database)
            self._initialized = True

    def stop(self) -> None:
        self.daemon.stop()

    def kill(self) -> None:
        """Crash-stop the server: an immediate shutdown (SIGQUIT, what ``pg_ctl -m
        immediate`` sends), so no checkpoint, and ``start()`` runs crash recovery.

        Clients see their connections drop. (A SIGKILL would orphan the server's
        children, which nothing on these machines reaps.)
        """
        self.daemon.stop(sig=signal.SIGQUIT)

    def create_database(self, name: str) -> str:
        """Create a database; returns its SQLAlchemy URL."""
        self._admin("CREATE DATABASE {}", name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _admin(self, statement: LiteralString, name: str) -> None:
        import psycopg
        from psycopg import sql

        query = sql.SQL(statement).format(sql.Identifier(name))
        with psycopg.connect(self.dsn("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(query)

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "LC_"))}
        env.update(LANG="C", LC_ALL="C")
        if self._as_root:
            env.update(HOME=str(self.dir), USER=self.user, LOGNAME=self.user)
        return env

    def _initdb(self) -> None:
        argv = [
            str(self.bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "--auth=trust",
            "-E", "UTF8",
            "--locale=C",
            "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self._env(),
            cwd=self.dir,
            timeout=120,
            check=False,
            **_as_user(self.user if self._as_root else None),
        )
        if result.returncode != 0:
            raise ServiceError(
                f"initdb failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def __repr__(self) -> str:
        return f"<PostgresCluster {self.version} 127.0.0.1:{self.port} {self.dir}>"


# --------------------------------------------------------------------------- registry


class Registry(_Service):
    """Debian's ``docker-registry`` (distribution 2.x) on 127.0.0.1, storage in a temp dir.

    127.0.0.0/8 is an insecure registry by default for dockerd, so the main
    engine can push to ``f"{registry.address}/name:tag"`` without TLS. The
    stored images survive a stop/start. With ``htpasswd`` (the file's text;
    the registry accepts bcrypt entries only) it asks for Basic credentials.
    """

    name = "registry"

    def __init__(
        self, base_dir: Path | None = None, port: int | None = None, htpasswd: str | None = None
    ) -> None:
        super().__init__(base_dir)
        self.port = port or free_port()
        self.storage_dir = self.dir / "storage"
        self.storage_dir.mkdir()
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.address, "secret": "empire-tests"},
        }
        if htpasswd is not None:
            (self.dir / "htpasswd").write_text(htpasswd)
            config["auth"] = {
                "htpasswd": {"realm": "empire-tests", "path": str(self.dir / "htpasswd")}
            }
        self.config_path = self.dir / "config.yml"
        self.config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        binary = shutil.which("docker-registry") or "/usr/bin/docker-registry"
        self.daemon = Daemon(
            "docker-registry",
            [binary, "serve", str(self.config_path)],
            self.dir / "registry.log",
            cwd=self.dir,
        )

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, the prefix of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def running(self) -> bool:
        return self.daemon.running

    def start(self) -> None:
        if self.daemon.running:
            return
        self.daemon.start()
        # 401: up, and asking for the credentials it was configured with.
        self.daemon.wait_until(
            lambda: http_status(f"{self.url}/v2/") in (200, 401), "answering /v2/"
        )

    def stop(self) -> None:
        self.daemon.stop()

    def __repr__(self) -> str:
        return f"<Registry {self.address} {self.dir}>"


# --------------------------------------------------------------------------- Caddy


class CaddyServer(_Service):
    """``caddy run`` with HOME/XDG dirs in a temp dir and its admin API on a free port.

    It starts with no apps (only the admin endpoint). Tests push configs with
    :meth:`load`, which keeps the admin endpoint in them: a ``POST /load``
    without ``admin`` would move the admin API back to localhost:2019. A
    ``start()`` after ``stop()`` begins again from the empty config.
    """

    name = "caddy"

    def __init__(self, base_dir: Path | None = None, admin_port: int | None = None) -> None:
        super().__init__(base_dir)
        self.admin_port = admin_port or free_port()
        self.config_path = self.dir / "caddy.json"
        self.config_path.write_text(json.dumps({"admin": self.admin_config}))
        binary = shutil.which("caddy") or "/usr/bin/caddy"
        env = dict(os.environ)
        env.update(
            HOME=str(self.dir),
            XDG_CONFIG_HOME=str(self.dir / "config"),
            XDG_DATA_HOME=str(self.dir / "data"),
        )
        self.daemon = Daemon(
            "caddy",
            [binary, "run", "--config", str(self.config_path)],
            self.dir / "caddy.log",
            env=env,
            cwd=self.dir,
        )

    @property
    def admin_address(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin_address}"

    @property
    def admin_config(self) -> dict[str, Any]:
        return {"listen": self.admin_address}

    @property
    def running(self) -> bool:
        return self.daemon.running

    def start(self) -> None:
        if self.daemon.running:
            return
        self.daemon.start()
        self.daemon.wait_until(
            lambda: http_status(f"{self.admin_url}/config/") == 200, "answering its admin API"
        )

    def stop(self) -> None:
        self.daemon.stop()

    def load(self, config: Mapping[str, Any]) -> None:
        """``POST /load`` a whole config (the admin endpoint is kept)."""
        body = dict(config)
        body.setdefault("admin", self.admin_config)
        req = urllib.request.Request(
            f"{self.admin_url}/load",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10):
                pass
        except urllib.error.HTTPError as e:
            raise ServiceError(f"caddy /load: {e.code} {e.read().decode(errors='replace')}") from e

    def config(self) -> Any:
        """The running config (``GET /config/``)."""
        with urllib.request.urlopen(f"{self.admin_url}/config/", timeout=10) as resp:
            return json.loads(resp.read() or b"null")

    def __repr__(self) -> str:
        return f"<CaddyServer admin {self.admin_address} {self.dir}>"
