"""Registry credentials of a build's push, without AWS (the ECS tier asks moto's ECR)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from empire.builds import BuildFailed
from empire.builds.registry import REASON, EcrToken, aws_reason, ecr_registry

HOST = "123456789012.dkr.ecr.eu-west-3.amazonaws.com"


class ClientError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"An error occurred ({code})")
        self.response = {"Error": {"Code": code, "Message": message}}


class Ecr:
    def __init__(self, answer: Any = None, error: Exception | None = None) -> None:
        self.answer = answer
        self.error = error
        self.calls = 0

    def get_authorization_token(self, **params: Any) -> Any:
        self.calls += 1
        assert params == {"registryIds": ["123456789012"]}
        if self.error is not None:
            raise self.error
        return self.answer


def token_answer(expires: datetime, endpoint: str = f"https://{HOST}") -> dict[str, Any]:
    return {
        "authorizationData": [
            {
                "authorizationToken": "QVdTOnMzY3JldA==",
                "expiresAt": expires,
                "proxyEndpoint": endpoint,
            }
        ]
    }


def test_ecr_hosts_are_recognised_and_look_alikes_are_not() -> None:
    found = ecr_registry(f"{HOST}/team/sub")
    assert found is not None and (found.account, found.region) == ("123456789012", "eu-west-3")
    assert ecr_registry("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com") is not None
    assert ecr_registry("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") is not None
    for other in (
        "registry.example.com",
        f"{HOST}.evil.test",
        f"evil.test/{HOST}",
        "12345.dkr.ecr.eu-west-3.amazonaws.com",
        f"{HOST}:443",
        "localhost:5000",
    ):
        assert ecr_registry(other) is None, other


def test_the_token_is_decoded_and_kept_until_near_its_expiry() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    clock = [now]
    ecr = Ecr(token_answer(now + timedelta(hours=12)))
    token = EcrToken(ecr, ecr_registry(HOST) or pytest.fail(), now=lambda: clock[0])
    auth = token.auth()
    assert auth == {"username": "AWS", "password": "s3cret", "serveraddress": f"https://{HOST}"}
    auth["password"] = "changed by a caller"
    clock[0] = now + timedelta(hours=11, minutes=44)
    assert token.auth()["password"] == "s3cret" and ecr.calls == 1
    clock[0] = now + timedelta(hours=11, minutes=46)
    token.auth()
    assert ecr.calls == 2


def test_concurrent_pushes_ask_once() -> None:
    ecr = Ecr(token_answer(datetime.now(UTC) + timedelta(hours=12)))
    token = EcrToken(ecr, ecr_registry(HOST) or pytest.fail())
    threads = [threading.Thread(target=token.auth) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ecr.calls == 1


def test_refusals_and_odd_answers_fail_the_build_with_a_reason() -> None:
    registry = ecr_registry(HOST) or pytest.fail()
    denied = ClientError("AccessDeniedException", "User: x is not authorized\nto perform it")
    with pytest.raises(BuildFailed) as refused:
        EcrToken(Ecr(error=denied), registry).auth()
    assert refused.value.message.endswith(
        "AccessDeniedException: User: x is not authorized to perform it"
    )
    for answer in ({}, {"authorizationData": []}, {"authorizationData": ["x"]}):
        with pytest.raises(BuildFailed, match="ECR gave no authorization token"):
            EcrToken(Ecr(answer), registry).auth()
    # No expiry: used for this push, asked again for the next one.
    ecr = Ecr({"authorizationData": [{"authorizationToken": "QVdTOnMzY3JldA=="}]})
    token = EcrToken(ecr, registry)
    assert token.auth()["serveraddress"] == f"https://{HOST}"
    token.auth()
    assert ecr.calls == 2


def test_the_reason_is_one_bounded_line() -> None:
    assert aws_reason(ClientError("Throttling", "")) == "Throttling"
    assert aws_reason(RuntimeError()) == "RuntimeError"
    long = aws_reason(ClientError("X", "y" * 10_000))
    assert len(long) <= REASON + 10 and long.endswith("[...]")
    assert "\n" not in aws_reason(RuntimeError("a\nb\r\nc"))


def test_the_repository_is_made_once_and_a_refusal_says_what_to_do() -> None:
    class Repositories(Ecr):
        def __init__(self, error: Exception | None = None) -> None:
            super().__init__()
            self.created: list[str] = []
            self.refusal = error

        def create_repository(self, repositoryName: str) -> None:
            self.created.append(repositoryName)
            if self.refusal is not None:
                raise self.refusal

    registry = ecr_registry(f"{HOST}/team") or pytest.fail()
    ecr = Repositories()
    token = EcrToken(ecr, registry)
    token.prepare(f"{HOST}/team/acme")
    token.prepare(f"{HOST}/team/acme")
    assert ecr.created == ["team/acme"]
    denied = ClientError("AccessDeniedException", "not authorized to perform CreateRepository")
    with pytest.raises(BuildFailed) as refused:
        EcrToken(Repositories(denied), registry).prepare(f"{HOST}/team/acme")
    assert "cannot create the ECR repository team/acme" in refused.value.message
    assert refused.value.message.endswith(
        "AccessDeniedException: not authorized to perform CreateRepository"
    )
    exists = Repositories(ClientError("RepositoryAlreadyExistsException", "exists"))
    EcrToken(exists, registry).prepare(f"{HOST}/team/acme")
