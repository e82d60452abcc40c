"""Hardening on a real `empire server`: webhooks to real HTTP receivers that check signatures
(retries, failed deliveries, `empire webhooks retry`), events on stdout, and TLS answered by
httpx and the real `emp`."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from empire.secrets import generate_key
from empire.webhooks import verify
from support.pki import self_signed
from support.server import EmpireServer
from support.waiting import wait_for

BIN = Path(sys.executable).parent
CANARY = "canary-value-4f1d9a"


class Receiver:
    """A webhook receiver on a real local port: it verifies each signature (401 when it does
    not hold) and then answers `status`; it keeps every request it got."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.secret = ""
        self.got: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signature = self.headers.get("Empire-Signature", "")
                valid = verify(receiver.secret, body, signature)
                answer = receiver.status if valid else 401
                receiver.got.append((dict(self.headers.items()), body, answer))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def answered(self, status: int) -> list[dict[str, Any]]:
        """The bodies of the requests answered with `status`."""
        return [json.loads(body) for _, body, answer in self.got if answer == status]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    good, flaky = Receiver(), Receiver(status=500)
    yield good, flaky
    good.close()
    flaky.close()


def emp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "emp", *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def client_env(server: EmpireServer, token: str, **extra: str) -> dict[str, str]:
    netrc = server.data_dir / "netrc"
    netrc.write_text(f"machine 127.0.0.1:{server.port}\n  login alice\n  password {token}\n")
    netrc.chmod(0o600)
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(server.data_dir),
        "TZ": "UTC",
        "EMPIRE_API_URL": server.url,
        "NETRC_PATH": str(netrc),
        **extra,
    }


def test_webhooks_arrive_signed_and_failed_ones_are_kept_and_retried(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    good, flaky = receivers
    server = EmpireServer(
        tmp_path,
        env={
            "EMPIRE_SCHEDULER": "fake",
            "EMPIRE_IMAGES": "fake",
            "EMPIRE_WEBHOOKS": f"{good.url},{flaky.url}",
            "EMPIRE_WEBHOOK_ATTEMPTS": "3",
            "EMPIRE_WEBHOOK_BACKOFF_SECONDS": "0.05",
        },
    )
    token = server.create_user("alice")
    # No EMPIRE_WEBHOOK_SECRET: the secret derives from the (local) secret key.
    secret = server.empire("webhooks", "secret").strip()
    assert len(secret) == 64
    good.secret = flaky.secret = secret
    with server:
        env = client_env(server, token)
        assert emp(env, "create", "acme").returncode == 0
        (created,) = wait_for(lambda: good.answered(200), what="the good receiver")
        assert (created["kind"], created["app"], created["user"]) == ("create", "acme", "alice")
        assert created["text"] == "alice created acme"

        # The flaky receiver answered 500 three times: the delivery failed for good.
        wait_for(lambda: len(flaky.got) == 3, what="three attempts")
        failed = wait_for(
            lambda: server.empire("webhooks", "deliveries", "--failed"), what="a failed delivery"
        ).splitlines()
        assert len(failed) == 1
        ident, state, attempts, seq, url, error = failed[0].split("\t")
        assert (state, attempts, seq, url, error) == (
            "failed",
            "3",
            str(created["seq"]),
            flaky.url,
            "HTTP 500",
        )
        assert [answer for _, _, answer in flaky.got] == [500, 500, 500]
        everything = server.empire("webhooks", "deliveries").splitlines()
        assert sorted(line.split("\t")[1] for line in everything) == ["delivered", "failed"]

        # Fixed, and retried: it arrives, once.
        flaky.status = 200
        assert server.empire("webhooks", "retry", ident) == "Queued 1 delivery again.\n"
        (retried,) = wait_for(lambda: flaky.answered(200), what="the retried delivery")
        assert retried == created
        assert server.empire("webhooks", "deliveries", "--failed") == ""

        # The same request id everywhere: the audit trail, the webhook, stdout.
        audit = json.loads(emp(env, "audit", "-a", "acme", "--json").stdout)
        assert [(e["kind"], e["request_id"]) for e in audit] == [("create", created["request_id"])]
        assert len(created["request_id"]) == 36  # the uuid emp sent as Request-Id
        lines = [json.loads(line) for line in server.log_tail(400).splitlines() if line[:1] == "{"]
        assert [(e["kind"], e["request_id"]) for e in lines] == [("create", created["request_id"])]

        # A config value goes nowhere but the app's config.
        assert emp(env, "set", f"API_TOKEN={CANARY}", "-a", "acme").returncode == 0
        wait_for(lambda: len(good.answered(200)) == 2, what="the set event")
        assert (
            good.answered(200)[1]["text"]
            == "alice changed environment variables on acme (API_TOKEN)"
        )
        received = b"".join(body for _, body, _ in good.got + flaky.got)
        assert CANARY.encode() not in received
        wait_for(lambda: "API_TOKEN" in server.log_tail(400), what="the set event on stdout")
    assert CANARY not in server.log_path.read_text()

    # A receiver refuses what does not come signed with the secret.
    headers, body, _ = good.got[0]
    signature = headers["Empire-Signature"]
    tampered_body = body.replace(b'"acme"', b'"evil"')
    digest = signature.rsplit("=", 1)[1]
    tampered_signature = signature[: -len(digest)] + digest[::-1]
    for sent, header in (
        (tampered_body, signature),
        (body, tampered_signature),
        (body, ""),
    ):
        response = httpx.post(good.url, content=sent, headers={"Empire-Signature": header})
        assert response.status_code == 401
    # A replay within the tolerance verifies (receivers dedupe by Empire-Delivery).
    assert httpx.post(good.url, content=body, headers={"Empire-Signature": signature}).is_success


def test_events_on_stdout_can_be_turned_off(tmp_path: Path) -> None:
    server = EmpireServer(
        tmp_path,
        env={"EMPIRE_SCHEDULER": "fake", "EMPIRE_IMAGES": "fake", "EMPIRE_EVENTS_STDOUT": "false"},
    )
    server.create_user("alice")
    token = server.empire("tokens", "create", "alice").strip().splitlines()[-1]
    with server:
        response = httpx.post(
            f"{server.url}/apps",
            json={"name": "quiet"},
            headers={"Authorization": f"Bearer {token}", "Request-Id": "req-quiet"},
        )
        assert response.status_code == 201
    assert "req-quiet" not in server.log_path.read_text()
    assert '"kind"' not in server.log_path.read_text()


def test_tls_on_a_public_address(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = self_signed(certs)
    server = EmpireServer(
        tmp_path / "data",
        env={
            "EMPIRE_SCHEDULER": "fake",
            "EMPIRE_IMAGES": "fake",
            "EMPIRE_HOST": "0.0.0.0",
            "EMPIRE_SECRET_KEY": generate_key(),
            "EMPIRE_ENCRYPTION_KEY": generate_key(),
            "EMPIRE_TLS_CERT": str(cert),
            "EMPIRE_TLS_KEY": str(key),
        },
    )
    token = server.create_user("alice")
    with server:
        assert server.url.startswith("https://")
        trusted = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(
            f"{server.url}/apps", headers={"Authorization": f"Bearer {token}"}, verify=trusted
        )
        assert response.status_code == 200
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/health")  # not trusted without the certificate
        plain = f"http://127.0.0.1:{server.port}/health"
        with pytest.raises(httpx.TransportError):
            httpx.get(plain, timeout=5)  # no plain HTTP next to HTTPS

        env = client_env(server, token, SSL_CERT_FILE=str(cert))
        done = emp(env, "create", "secure")
        assert (done.returncode, done.stderr) == (0, "Created secure.\n")
        assert emp(env, "apps").stdout.split()[0] == "secure"
        untrusted = emp({k: v for k, v in env.items() if k != "SSL_CERT_FILE"}, "apps")
        assert untrusted.returncode == 1
        assert "certificate verify failed" in untrusted.stderr.lower()
    log = server.log_path.read_text()
    assert "without TLS" not in log


def test_a_public_address_without_tls_is_warned_about(tmp_path: Path) -> None:
    server = EmpireServer(
        tmp_path,
        env={
            "EMPIRE_SCHEDULER": "fake",
            "EMPIRE_IMAGES": "fake",
            "EMPIRE_HOST": "0.0.0.0",
            "EMPIRE_SECRET_KEY": generate_key(),
            "EMPIRE_ENCRYPTION_KEY": generate_key(),
        },
    )
    with server:
        pass
    assert (
        "listening on 0.0.0.0 without TLS: API tokens travel in clear unless a TLS proxy is in "
        "front" in server.log_path.read_text()
    )
