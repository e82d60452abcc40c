"""The router image, built on the engine from what this machine has: no registry needed.

FROM scratch: Debian's `caddy`, the machine's `python3` with its standard library and
dnspython (for the resolver), the static busybox (for the start script's `sh`), and the shared
libraries they link to. Its tag names a hash of all that, so an upgrade of any part (or of
the resolver's code) is a new image, and the router is made again from it.

    <python3> -s -E /empire/resolver.py ...   (restarted whenever it exits)
    caddy run --config /run/empire-router/initial.json --resume
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import dns
import dns.version

from empire.errors import SchedulerError
from empire.router import resolver
from empire.scheduler.kit.api import EngineAPI
from empire.scheduler.kit.errors import engine_errors

STATE = "/run/empire-router"  # where the host's state directory is mounted
REPOSITORY = "empire-router"
BUSYBOX = Path("/usr/bin/busybox")
PYTHON = Path("/usr/bin/python3")
# Standard library parts the resolver never uses (and their shared libraries).
_SKIP = {
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "site-packages",
    "dist-packages",
    "__pycache__",
    "pydoc_data",
    "config-3",
}

START = f"""#!/bin/sh
# Empire's router: the resolver (started again whenever it exits) and Caddy.
( while :; do
    /usr/bin/python3 -s -E /empire/resolver.py --records {STATE}/records.json \\
        --listen 0.0.0.0:53 --upstream 127.0.0.11:53 --control {STATE}/resolver.sock
    sleep 0.2
  done ) &
exec /usr/bin/caddy run --config {STATE}/initial.json --resume
"""


def caddy_binary() -> Path:
    found = shutil.which("caddy") or "/usr/bin/caddy"
    if not Path(found).is_file():
        raise SchedulerError("caddy is not installed: apt-get install caddy (scripts/bootstrap)")
    return Path(found)


def python_binary() -> Path:
    """The machine's Python 3 (Debian's python3), whose standard library the image copies.

    Not `sys.executable`: Empire may run from a virtualenv of another Python whose standard
    library is not where the copied interpreter would look for it."""
    found = PYTHON.resolve() if PYTHON.exists() else None
    if found is None or not found.is_file():
        raise SchedulerError("python3 is not installed: apt-get install python3-minimal")
    return found


def _stdlib(python: Path) -> Path:
    version = python.name.removeprefix("python")  # python3.11 -> 3.11
    path = Path("/usr/lib") / f"python{version}"
    if not path.is_dir():
        raise SchedulerError(f"{python}'s standard library is not at {path}")
    return path


@functools.cache
def tag() -> str:
    """`empire-router:<hash>`: a hash of every part the image is made of (once per process:
    the parts are read whole)."""
    digest = hashlib.sha256()
    python = python_binary()
    for part in (caddy_binary(), python, BUSYBOX, Path(resolver.__file__), Path(__file__)):
        digest.update(part.name.encode())
        digest.update(_file_hash(part).encode())
    digest.update(dns.version.version.encode())
    digest.update(START.encode())
    return f"{REPOSITORY}:{digest.hexdigest()[:16]}"


def ensure(api: EngineAPI) -> str:
    """Build the image when the engine does not have it; return its tag."""
    wanted = tag()
    with engine_errors(f"look up the router image {wanted}", missing_ok=True):
        api.inspect_image(wanted)
        return wanted
    with tempfile.TemporaryDirectory(prefix="empire-router-image-") as tmp:
        context = Path(tmp)
        _context(context)
        with engine_errors(f"build the router image {wanted}"):
            for message in api.build(
                path=str(context), tag=wanted, rm=True, forcerm=True, decode=True
            ):
                if isinstance(message, dict) and message.get("error"):
                    raise SchedulerError(f"building {wanted} failed: {message['error']}")
    return wanted


def _context(context: Path) -> None:
    """Lay out the image's files and its Dockerfile in `context`."""
    root = context / "root"
    caddy, python = caddy_binary(), python_binary()
    stdlib = _stdlib(python)
    binaries = [caddy, python]
    _copy(caddy, root / "usr/bin/caddy")
    _copy(python, root / "usr/bin/python3")
    _copy(BUSYBOX, root / "bin/busybox")
    (root / "bin/sh").symlink_to("busybox")
    (root / "bin/sleep").symlink_to("busybox")
    for path in _walk(stdlib):
        target = root / path.relative_to("/")
        _copy(path, target)
        if path.suffix == ".so":
            binaries.append(path)
    _copy(Path(resolver.__file__), root / "empire/resolver.py")
    shutil.copytree(Path(dns.__file__).parent, root / "empire/dns", ignore=_no_caches)
    for library in _libraries(binaries):
        _copy(library, root / library.relative_to("/"))
    # Compiled now, so the resolver starts in a fraction of a second, not a few seconds.
    subprocess.run(
        [
            str(python),
            "-m",
            "compileall",
            "-q",
            "-j0",
            "-s",
            str(root),
            "-p",
            "/",
            str(root / stdlib.relative_to("/")),
            str(root / "empire"),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (root / "empire/start").write_text(START)
    (root / "empire/start").chmod(0o755)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/nsswitch.conf").write_text("hosts: files dns\n")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    for directory in ("tmp", "root", STATE.lstrip("/")):
        (root / directory).mkdir(parents=True, exist_ok=True)
    (context / "Dockerfile").write_text(
        "FROM scratch\nCOPY root/ /\n"
        "ENV HOME=/root XDG_CONFIG_HOME=/root/config XDG_DATA_HOME=/root/data\n"
        'ENTRYPOINT ["/empire/start"]\n'
    )


def _walk(stdlib: Path) -> Iterable[Path]:
    for directory, names, files in os.walk(stdlib):
        names[:] = [n for n in names if n not in _SKIP and not n.startswith("config-")]
        for name in files:
            if name.endswith((".py", ".so")):
                yield Path(directory) / name


def _libraries(binaries: Iterable[Path]) -> set[Path]:
    """The shared libraries (and the loader) the binaries link to, as `ldd` lists them."""
    found: set[Path] = set()
    for binary in binaries:
        result = subprocess.run(
            ["ldd", str(binary)], capture_output=True, text=True, check=False, timeout=30
        )
        for line in result.stdout.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                found.add(Path(parts[2]))
            elif parts and parts[0].startswith("/"):
                found.add(Path(parts[0]))  # the loader
    return found


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source.resolve(), target)


def _no_caches(directory: str, names: list[str]) -> list[str]:
    return [n for n in names if n == "__pycache__"]


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path.resolve(), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
