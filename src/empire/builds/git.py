"""Git repositories for `git push` builds: one bare repository per app, with Empire's hook.

Pushes are served by git's own `git http-backend` (CGI; `empire.api.git` runs it): Empire does
not speak git's protocol itself. Each app's bare repository (`<data dir>/git/<app>.git`) has a
`pre-receive` hook that builds and deploys the pushed commit before any ref moves: it archives
the commit (`git archive`, from the push's quarantine) and posts the tar to the running server
over loopback, at a URL with a secret made for this one push (`PUSH_HOOK_URL`, in the
environment http-backend passes on). The server's progress comes back as lines the hook prints,
which git relays to the pusher as `remote:` lines; a failed build or release makes the hook
exit non-zero, which fails the push. Only `main` and `master` are built; a push to any other
branch, or deleting one, is refused, saying so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

BRANCHES = ("refs/heads/main", "refs/heads/master")
REPO = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")  # an app name, as the repository's

HOOK = r'''#!{python} -I
"""Empire's pre-receive hook: build and deploy the pushed main/master (see empire.builds.git)."""
import json, os, subprocess, sys, urllib.error, urllib.parse, urllib.request

ZERO = "0" * 40
BRANCHES = {branches!r}


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


url = os.environ.get("PUSH_HOOK_URL")
if not url:
    say("Empire: push through Empire's server (http://HOST/APP.git), not to this directory")
    sys.exit(1)
target = None
for line in sys.stdin.read().splitlines():
    if not line.strip():
        continue
    old, new, ref = line.split()[:3]
    if ref not in BRANCHES:
        say(f"Empire builds and deploys only main or master: {{ref}} was refused "
            "(push to main: git push empire HEAD:main)")
        sys.exit(1)
    if new == ZERO:
        say(f"Empire: deleting {{ref}} is refused (it is what the app is built from)")
        sys.exit(1)
    target = new
if target is None:
    sys.exit(0)
subject = subprocess.run(
    ["git", "log", "-1", "--format=%s", target], capture_output=True, text=True
).stdout.strip()
limit = int(os.environ.get("PUSH_MAX_SOURCE") or 100 << 20)
archive = subprocess.Popen(
    ["git", "archive", "--format=tar", target], stdout=subprocess.PIPE, stderr=subprocess.PIPE
)
chunks, size = [], 0
while True:
    chunk = archive.stdout.read(1 << 20)
    if not chunk:
        break
    size += len(chunk)
    if size > limit:
        archive.kill()
        archive.wait()
        say(f"ERROR: the source of {{target[:7]}} is over {{limit}} bytes unpacked "
            "(EMPIRE_BUILD_MAX_SOURCE): leave large files out of the repository")
        sys.exit(1)
    chunks.append(chunk)
if archive.wait() != 0:
    problem = archive.stderr.read().decode(errors="replace")
    say("Empire: could not archive " + target + ": " + problem)
    sys.exit(1)
request = urllib.request.Request(
    url,
    data=b"".join(chunks),
    method="POST",
    headers={{
        "Content-Type": "application/x-tar",
        "Build-Commit": target,
        "Build-Subject": urllib.parse.quote(subject[:200]),
    }},
)
failed = False
succeeded = False  # the release's last status says so; anything else (a cut stream) fails
try:
    with urllib.request.urlopen(request, timeout=None) as response:
        for raw in response:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if "error" in message:
                failed = True
                say("ERROR: " + str(message["error"]))
            elif "stream" in message:
                say(str(message["stream"]).rstrip("\n"))
            elif "status" in message:
                status = str(message["status"]).removeprefix("Status: ")
                succeeded = status.startswith("Release v") and status.endswith(" succeeded")
                say(status)
except urllib.error.HTTPError as error:
    try:
        reason = json.loads(error.read()).get("message", error.reason)
    except ValueError:
        reason = error.reason
    say(f"ERROR: {{reason}}")
    sys.exit(1)
except OSError as error:
    say(f"ERROR: the build was interrupted: {{error}}")
    sys.exit(1)
if failed:
    sys.exit(1)
if not succeeded:
    say("ERROR: the build's outcome never arrived: the push is refused (see emp builds)")
    sys.exit(1)
say(f"Deployed {{target[:7]}}")
'''


def repository(root: Path, app: str, app_id: str) -> Path:
    """The app's bare repository under `root`, made (with Empire's hook) when missing; the
    hook is rewritten every time, so a repository always has the running server's. A
    repository left by a destroyed app of the same name (another `app_id`) is replaced: a new
    app never inherits an old one's history."""
    if not REPO.match(app):
        raise ValueError(f"not an app name: {app!r}")
    path = root / f"{app}.git"
    config = path / "config"
    if (path / "HEAD").is_file() and _config(config, "empire.appid") != app_id:
        shutil.rmtree(path)
    if not (path / "HEAD").is_file():
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", "--initial-branch=main", str(path)],
            check=True,
            capture_output=True,
        )
        settings = (
            ("http.receivepack", "true"),
            ("http.uploadpack", "false"),
            ("empire.appid", app_id),
        )
        for key, value in settings:
            subprocess.run(
                ["git", "config", "--file", str(config), key, value],
                check=True,
                capture_output=True,
            )
    hook = path / "hooks" / "pre-receive"
    text = HOOK.format(python=sys.executable, branches=BRANCHES)
    if not hook.is_file() or hook.read_text() != text:
        hook.write_text(text)
        hook.chmod(0o700)
    return path


def _config(path: Path, key: str) -> str:
    done = subprocess.run(
        ["git", "config", "--file", str(path), "--get", key], capture_output=True, text=True
    )
    return done.stdout.strip()
