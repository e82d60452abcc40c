"""HerokuClient: the Heroku Platform API v3 (plus Empire's extensions) over an httpx.Client.

    client = HerokuClient(httpx.Client(base_url=url), url=url, creds=Creds("bob", token))
    client.apps()                       # GET /apps, following Next-Range
    client.scale("acme", [{"process": "web", "quantity": 2}], message="more web")

Errors are ApiError(status, id, message); no answer at all is Unreachable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from urllib.parse import quote

import httpx

from emp.transport import (
    JSON,
    RELEASE_TIMEOUT,
    ApiError,
    Transport,
    Unreachable,
    array,
    decode,
    obj,
)

__all__ = ["ApiError", "HerokuClient", "Unreachable"]


class HerokuClient(Transport):
    """Typed calls to an Empire server; every method maps to one API route."""

    # -- apps ---------------------------------------------------------------------------

    def apps(self) -> list[JSON]:
        """List every app."""
        return self.list("/apps", "name ..; max=1000")

    def app(self, app: str) -> JSON:
        """Return one app."""
        return obj(self.get(f"/apps/{segment(app)}"))

    def create_app(self, name: str, message: str | None = None) -> JSON:
        """Create an app."""
        return obj(self.send("POST", "/apps", {"name": name}, message))

    def update_app(self, app: str, changes: JSON, message: str | None = None) -> JSON:
        """Update an app's name or maintenance mode."""
        return obj(self.send("PATCH", f"/apps/{segment(app)}", changes, message))

    def destroy_app(self, app: str, message: str | None = None) -> None:
        """Destroy an app."""
        self.send("DELETE", f"/apps/{segment(app)}", None, message)

    def attach_cert(self, app: str, cert: str, process: str, message: str | None = None) -> None:
        """Attach a certificate to one process of an app."""
        body = {"cert": cert, "process": process}
        self.send("POST", f"/apps/{segment(app)}/certs", body, message)

    # -- releases and config ------------------------------------------------------------

    def releases(self, app: str, limit: int) -> list[JSON]:
        """Return the newest `limit` releases, newest first."""
        path = f"/apps/{segment(app)}/releases"
        return self.list(path, f"version ..; max={limit}, order=desc", follow=False)

    def audit(self, app: str, limit: int) -> list[JSON]:
        """Return the app's newest `limit` audit events, newest first."""
        path = f"/apps/{segment(app)}/audit"
        return self.list(path, f"created_at ..; max={limit}, order=desc", follow=False)

    def metrics(self, app: str, minutes: int) -> JSON:
        """The app's figures over the last `minutes`: processes and router traffic."""
        return obj(self.get(f"/apps/{segment(app)}/metrics?minutes={minutes}"))

    def release(self, app: str, version: str) -> JSON:
        """Return one release by version."""
        return obj(self.get(f"/apps/{segment(app)}/releases/{segment(version)}"))

    def release_output(self, app: str, version: str) -> str:
        """What the release's release phase printed (its last lines)."""
        path = f"/apps/{segment(app)}/releases/{segment(version)}/output"
        return self.request("GET", path).text

    def rollback(self, app: str, version: str, message: str | None = None) -> JSON:
        """Make a new release from an old one."""
        path = f"/apps/{segment(app)}/releases"
        body = {"release": version}
        return obj(self.send("POST", path, body, message, timeout=RELEASE_TIMEOUT))

    def config(self, app: str, version: str | None = None) -> dict[str, str]:
        """Return the app's config vars, or those of release `version`."""
        suffix = f"/{segment(version)}" if version else ""
        values = obj(self.get(f"/apps/{segment(app)}/config-vars{suffix}"))
        return {str(k): str(v) for k, v in values.items()}

    def update_config(
        self, app: str, changes: Mapping[str, str | None], message: str | None = None
    ) -> JSON:
        """Merge config changes (None unsets a var)."""
        path = f"/apps/{segment(app)}/config-vars"
        return obj(self.send("PATCH", path, dict(changes), message, timeout=RELEASE_TIMEOUT))

    # -- dynos and formation ------------------------------------------------------------

    def dynos(self, app: str) -> list[JSON]:
        """List the app's dynos."""
        return self.list(f"/apps/{segment(app)}/dynos", "name ..; max=1000")

    def run(self, app: str, body: JSON, message: str | None = None) -> JSON:
        """Start a one-off dyno."""
        return obj(self.send("POST", f"/apps/{segment(app)}/dynos", body, message))

    def restart(self, app: str, target: str | None = None, message: str | None = None) -> None:
        """Restart every dyno of the app, one process type, or one dyno."""
        suffix = f"/{segment(target)}" if target else ""
        self.send("DELETE", f"/apps/{segment(app)}/dynos{suffix}", None, message)

    def formation(self, app: str) -> list[JSON]:
        """Return the app's formation."""
        return array(self.get(f"/apps/{segment(app)}/formation"))

    def scale(self, app: str, updates: list[JSON], message: str | None = None) -> list[JSON]:
        """Change quantities and sizes."""
        path = f"/apps/{segment(app)}/formation"
        return array(self.send("PATCH", path, {"updates": updates}, message))

    # -- domains ------------------------------------------------------------------------

    def domains(self, app: str) -> list[JSON]:
        """List the app's domains."""
        return self.list(f"/apps/{segment(app)}/domains", "hostname ..; max=1000")

    def add_domain(self, app: str, hostname: str, message: str | None = None) -> JSON:
        """Add a domain to the app."""
        path = f"/apps/{segment(app)}/domains"
        return obj(self.send("POST", path, {"hostname": hostname}, message))

    def remove_domain(self, app: str, hostname: str, message: str | None = None) -> None:
        """Remove a domain from the app."""
        self.send("DELETE", f"/apps/{segment(app)}/domains/{segment(hostname)}", None, message)

    def drains(self, app: str) -> list[JSON]:
        """List the app's log drains."""
        return [obj(item) for item in self.get(f"/apps/{segment(app)}/log-drains")]

    def add_drain(self, app: str, url: str, message: str | None = None) -> JSON:
        """Add a log drain to the app."""
        return obj(self.send("POST", f"/apps/{segment(app)}/log-drains", {"url": url}, message))

    def remove_drain(self, app: str, url: str, message: str | None = None) -> None:
        """Remove a log drain (by URL, token or id) from the app."""
        self.send("DELETE", f"/apps/{segment(app)}/log-drains/{segment(url)}", None, message)

    # -- streams and auth ---------------------------------------------------------------

    def deploy(
        self, image: str, app: str | None = None, stream: bool = False, message: str | None = None
    ) -> Iterator[JSON]:
        """Deploy an image; yield the jsonmessages of the deploy stream."""
        path = f"/apps/{segment(app)}/deploys" if app else "/deploys"
        body = {"image": image, "stream": stream}
        with self.stream("POST", path, body=body, message=message) as response, self.reaching():
            for line in response.iter_lines():
                if line.strip():
                    yield _message(line)

    def build(self, app: str, source: bytes, message: str | None = None) -> Iterator[JSON]:
        """Build a source tarball (tar.gz) and release it; yield the build's jsonmessages."""
        path = f"/apps/{segment(app)}/builds"
        headers = {"Content-Type": "application/gzip"}
        with (
            self.stream("POST", path, message=message, headers=headers, raw=source) as response,
            self.reaching(),
        ):
            for line in response.iter_lines():
                if line.strip():
                    yield _message(line)

    def builds(self, app: str) -> list[JSON]:
        """List an app's builds, newest first."""
        value = self.get(f"/apps/{segment(app)}/builds")
        return [obj(item) for item in value] if isinstance(value, list) else []

    def logs(self, app: str, body: JSON) -> Iterator[bytes]:
        """Open a log session; yield the raw bytes of the log stream."""
        path = f"/apps/{segment(app)}/log-sessions"
        with self.stream("POST", path, body=body) as response, self.reaching():
            if not response.headers.get("content-type", "").startswith("application/json"):
                yield from response.iter_bytes()
                return
            url = str(obj(json.loads(response.read())).get("logplex_url") or "")
        with self.stream("GET", url) as response, self.reaching():
            yield from response.iter_bytes()

    def tokens(self) -> list[JSON]:
        """List the caller's API tokens."""
        value = self.get("/oauth/authorizations")
        return [obj(item) for item in value] if isinstance(value, list) else []

    def revoke_token(self, token_id: str) -> None:
        """Revoke one of the caller's API tokens."""
        self.send("DELETE", f"/oauth/authorizations/{segment(token_id)}")

    def authorize(self, login: str, password: str, two_factor: str | None = None) -> str:
        """Exchange a login and password for an API token."""
        headers = {"Heroku-Two-Factor-Code": two_factor} if two_factor else None
        response = self.request(
            "POST",
            "/oauth/authorizations",
            body={"description": "emp login"},
            headers=headers,
            auth=httpx.BasicAuth(login, password),
        )
        token = obj(decode(response)).get("access_token")
        if not isinstance(token, dict) or not token.get("token"):
            raise ApiError(response.status_code, "", "access token missing from the login response")
        return str(token["token"])


def _message(line: str) -> JSON:
    try:
        value = json.loads(line)
    except ValueError:
        return {"stream": line + "\n"}
    return value if isinstance(value, dict) else {"stream": line + "\n"}


def segment(value: str) -> str:
    """A value as one URL path segment (names and ids may hold any character)."""
    return quote(value, safe="")
