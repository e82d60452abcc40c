"""What the clients tier's fixtures hand to tests: the running server and CLI results."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(self) -> httpx.Client:
        """An httpx client authenticated as `dev`."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def deploy(self, image: str, *, app: str | None = None) -> list[dict[str, Any]]:
        """Deploy through POST /deploys (or /apps/{app}/deploys); return the messages."""
        path = f"/apps/{app}/deploys" if app else "/deploys"
        with self.api() as api:
            response = api.post(path, json={"image": image, "stream": True})
        assert response.status_code == 200, response.text
        messages = [json.loads(line) for line in response.text.splitlines() if line]
        assert not any("errorDetail" in m for m in messages), messages
        return messages

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Result:
    argv: list[str]
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return f"$ heroku {' '.join(self.argv)}  [exit {self.code}]\n{self.stdout}{self.stderr}"


Heroku = Callable[..., Result]
