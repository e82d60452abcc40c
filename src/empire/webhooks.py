"""Webhooks: events POSTed to the URLs in EMPIRE_WEBHOOKS, signed, retried, kept when they fail.

Every delivery is a row of the store's outbox (`empire.audit.StoreSink` inserts it with its
event). The `Dispatcher`, a thread of `empire server`, claims due rows, POSTs them and records
the outcome: delivered on a 2xx answer; otherwise due again after an exponential backoff with
jitter (1 s, 2 s, 4 s, ... capped), and `failed` after the last attempt, with the last error
kept. `empire webhooks deliveries --failed` lists those, `empire webhooks retry` queues them
again.

The signature, in the `Empire-Signature` header, is Stripe's scheme:

    Empire-Signature: t=1764151200,v1=<hex HMAC-SHA256(secret, "1764151200." + body)>

The timestamp is part of what is signed, so a receiver that checks it (`verify`, `tolerance`)
refuses a captured request replayed later; the signature is computed at each attempt, so a
retry is fresh. A plain `HMAC(body)` header would be simpler but replayable forever. Receivers
in Python can use `verify` as it is; it accepts several `v1=` values (a secret being rotated).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from empire.events import Delivery
from empire.model import Clock, utcnow
from empire.store import Store

if TYPE_CHECKING:  # httpx loads only where webhooks are sent (it costs the server megabytes)
    import httpx

log = logging.getLogger("empire.webhooks")

SIGNATURE_HEADER = "Empire-Signature"
DELIVERY_HEADER = "Empire-Delivery"
TOLERANCE_SECONDS = 300.0
TIMEOUT_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 600.0
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def derive_secret(secret_key: str) -> str:
    """The default signing secret: derived from EMPIRE_SECRET_KEY, never the key itself."""
    return hmac.new(secret_key.encode(), b"empire webhooks", hashlib.sha256).hexdigest()


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """Return the `Empire-Signature` header value for a body sent at `timestamp` (Unix)."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """Whether `header` is a valid signature of `body` under `secret`, made at most
    `tolerance` seconds from `now` (Unix time; default the current time)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = datetime.now(UTC).timestamp() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def backoff(attempt: int, base: float, cap: float = BACKOFF_CAP_SECONDS) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based): base, 2·base, 4·base,
    ..., at most `cap`; jitter is added on top (`Dispatcher.jitter`)."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def default_jitter(delay: float) -> float:
    """Up to a tenth more, so receivers that came back are not hit by every sender at once."""
    return random.uniform(0.0, delay / 10)


class Dispatcher:
    """Sends due deliveries from the outbox, in a background thread until `stop`.

    Each round claims at most `batch` due deliveries and sends them one by one (a short
    timeout each), checking for `stop` in between; then it sleeps until the next delivery is
    due, at most `interval` seconds (new events are picked up within that).
    """

    def __init__(
        self,
        store: Store,
        secret: str,
        *,
        attempts: int = 8,
        backoff_base: float = 1.0,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        timeout: float = TIMEOUT_SECONDS,
        interval: float = 1.0,
        batch: int = 20,
        clock: Clock | None = None,
        jitter: Callable[[float], float] = default_jitter,
        http: httpx.Client | None = None,
    ) -> None:
        self.store = store
        self.secret = secret
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.interval = interval
        self.batch = batch
        self.clock = clock or utcnow
        self.jitter = jitter
        self._http = http
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one round ----------------------------------------------------------------------------

    def run_once(self) -> int:
        """Send every delivery due now (at most `batch`); return how many were attempted."""
        now = self.clock()
        with self.store.read() as tx:
            due = tx.due_deliveries(now, self.batch)
        sent = 0
        for candidate in due:
            if self._stopping.is_set():
                break
            lease = self.clock() + timedelta(seconds=self.timeout + 10)
            with self.store.write() as tx:
                delivery = tx.claim_delivery(candidate.id, self.clock(), lease)
            if delivery is None:  # another dispatcher took it, or it was requeued
                continue
            self._attempt(delivery)
            sent += 1
        return sent

    def _attempt(self, delivery: Delivery) -> None:
        error = self._send(delivery)
        now = self.clock()
        if error is None:
            state, next_at = DELIVERED, None
        elif delivery.attempts >= self.attempts:
            state, next_at = FAILED, None
            log.warning(
                "webhook delivery %s failed for good after %d attempts: %s",
                delivery.id,
                delivery.attempts,
                error,
            )
        else:
            delay = backoff(delivery.attempts, self.backoff_base, self.backoff_cap)
            state, next_at = PENDING, now + timedelta(seconds=delay + self.jitter(delay))
        with self.store.write() as tx:
            tx.finish_delivery(
                delivery.id,
                state=state,
                last_error=error if error is not None else delivery.last_error,
                next_attempt_at=next_at,
                at=now,
            )

    def _send(self, delivery: Delivery) -> str | None:
        """POST one delivery; return None on a 2xx answer, else what went wrong."""
        body = delivery.body.encode()
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Empire-Webhooks",
            DELIVERY_HEADER: delivery.id,
            SIGNATURE_HEADER: sign(self.secret, body, timestamp),
        }
        import httpx

        if self._http is None:
            self._http = httpx.Client(timeout=self.timeout, follow_redirects=False)
        try:
            response = self._http.post(
                delivery.url, content=body, headers=headers, timeout=self.timeout
            )
        except httpx.TimeoutException:
            return f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            # The exception's text, not the URL: a URL may carry credentials.
            return f"{type(exc).__name__}: {exc}".replace(delivery.url, "<url>")
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    # -- the background loop ------------------------------------------------------------------

    def start(self) -> None:
        """Start sending in a daemon thread (due rows a previous process left go first)."""
        self._thread = threading.Thread(target=self._loop, name="webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the current send (at most one timeout) and wait for the thread."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout if timeout is not None else self.timeout + 5)
        if self._http is not None:
            self._http.close()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self.run_once()
                wait = self._until_next_due()
            except Exception:  # the store is down, say: log, and try again later
                log.exception("webhook dispatcher round failed")
                wait = self.interval
            self._stopping.wait(wait)

    def _until_next_due(self) -> float:
        with self.store.read() as tx:
            due = tx.next_delivery_due()
        if due is None:
            return self.interval
        return min(self.interval, max(0.01, (due - self.clock()).total_seconds()))


# -- what `empire webhooks` shows and does ----------------------------------------------------


def deliveries(store: Store, *, failed: bool = False, limit: int = 100) -> list[Delivery]:
    """The newest deliveries, or only the failed ones."""
    with store.read() as tx:
        return tx.deliveries(FAILED if failed else None, limit)


def backlog(store: Store) -> int:
    """How many deliveries are pending (the metrics' `empire_webhook_backlog`)."""
    with store.read() as tx:
        return tx.pending_deliveries()


def retry(store: Store, ids: Sequence[str] | None, now: datetime) -> int:
    """Queue deliveries again (by id, or every failed one): pending, due now, fresh attempts.

    Returns how many were queued; the running server's dispatcher sends them.
    """
    with store.write() as tx:
        return tx.requeue_deliveries(ids, now)
