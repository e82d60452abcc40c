"""The AWS edge: the clients the backend uses, and the one place their errors are translated.

Every call goes through `Aws.call`, which backs off and retries throttled calls (exponential,
with jitter, `attempts` times) and turns botocore's errors into `AwsError`, a
`SchedulerError` whose message names what was being done and what AWS answered. botocore's
own `standard` retry mode handles dropped connections and 5xx answers underneath.

The throttling retry lives here rather than only in botocore's retry handler so it can be
seen working: botocore's Stubber answers before that handler runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from empire.errors import SchedulerError

if TYPE_CHECKING:
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_route53 import Route53Client
    from mypy_boto3_ssm import SSMClient

T = TypeVar("T")

THROTTLED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "PriorRequestNotComplete",
        "SlowDown",
    }
)


@dataclass(frozen=True, slots=True)
class Clients:
    """The boto3 clients of the services the backend calls."""

    ecs: ECSClient
    elbv2: ElasticLoadBalancingv2Client
    route53: Route53Client
    events: EventBridgeClient
    logs: CloudWatchLogsClient
    ssm: SSMClient  # Parameter Store, where config vars live


def make_clients(
    region: str,
    endpoint_url: str | None = None,
    *,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    max_attempts: int = 3,
) -> Clients:
    """Build the clients (credentials from boto3's usual chain unless given)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
    )
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=20,
    )
    return Clients(
        ecs=session.client("ecs", endpoint_url=endpoint_url, config=config),
        elbv2=session.client("elbv2", endpoint_url=endpoint_url, config=config),
        route53=session.client("route53", endpoint_url=endpoint_url, config=config),
        events=session.client("events", endpoint_url=endpoint_url, config=config),
        logs=session.client("logs", endpoint_url=endpoint_url, config=config),
        ssm=session.client("ssm", endpoint_url=endpoint_url, config=config),
    )


class AwsError(SchedulerError):
    """An AWS call failed; `code` is AWS's error code ("" when no answer came)."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Aws:
    """Calls AWS with throttling backoff and error translation."""

    def __init__(
        self,
        clients: Clients,
        *,
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.clients = clients
        self.ecs = clients.ecs
        self.elbv2 = clients.elbv2
        self.route53 = clients.route53
        self.events = clients.events
        self.logs = clients.logs
        self.ssm = clients.ssm
        self._attempts = max(attempts, 1)
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._sleep = sleep

    def call(
        self, action: str, fn: Callable[..., T], /, *, ok: Sequence[str] = (), **kwargs: Any
    ) -> T | None:
        """Call `fn(**kwargs)`; None when AWS answers one of the error codes in `ok`."""
        for attempt in range(1, self._attempts + 1):
            try:
                return fn(**kwargs)
            except ClientError as e:
                code = error_code(e)
                if code in ok:
                    return None
                if code in THROTTLED and attempt < self._attempts:
                    self._sleep(self.delay(attempt))
                    continue
                message = e.response.get("Error", {}).get("Message") or str(e)
                raise AwsError(f"cannot {action}: AWS answered {code}: {message}", code) from e
            except BotoCoreError as e:
                raise AwsError(f"cannot {action}: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def must(self, action: str, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Call `fn(**kwargs)`; every error is raised."""
        result = self.call(action, fn, **kwargs)
        assert result is not None
        return result

    def delay(self, attempt: int) -> float:
        """The pause before retry number `attempt`: exponential, capped, half jittered."""
        ceiling = min(self._max_backoff, self._backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.random() * ceiling / 2

    def pages(
        self,
        action: str,
        fn: Callable[..., Any],
        token_in: str,
        token_out: str,
        /,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Yield every page of a paginated call."""
        token: Any = None
        while True:
            extra = {token_in: token} if token else {}
            page = self.must(action, fn, **kwargs, **extra)
            yield page
            token = page.get(token_out)
            if not token:
                return


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Split `items` into lists of at most `size` (AWS's batch limits)."""
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
