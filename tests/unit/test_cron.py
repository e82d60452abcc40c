"""Cron schedules of the Docker backend's cron processes (`empire.scheduler.docker.cron`):
AWS and plain forms, years, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from empire.errors import Invalid
from empire.scheduler.docker import cron as crons


@pytest.mark.parametrize(
    ("schedule", "expression"),
    [
        ("cron(0 12 * * ? *)", "0 12 * * *"),
        ("0/5 * * * ? *", "0/5 * * * *"),
        ("0 8 ? * 2-6 *", "0 8 * * 1-5"),  # AWS Monday-Friday
        ("0 8 ? * 1,7 *", "0 8 * * 0,6"),  # AWS Sunday and Saturday
        ("0 8 ? * 2#1 *", "0 8 * * 1#1"),  # the first Monday
        ("0 8 ? * MON-FRI *", "0 8 * * MON-FRI"),
        ("*/5 * * * *", "*/5 * * * *"),
    ],
)
def test_schedules_in_aws_and_plain_cron_form(schedule: str, expression: str) -> None:
    assert crons.parse(schedule)[0] == expression


def test_schedule_years_and_invalid_forms() -> None:
    after = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert crons.due("0 0 1 1 ? 2027", after, after + timedelta(minutes=1))
    assert not crons.due("0 0 1 1 ? 2028-2030", after, after + timedelta(minutes=1))
    for wrong in ("* * *", "61 * * * *", "0 0 * * ? 20x7", "cron(nope)"):
        with pytest.raises(Invalid):
            crons.parse(wrong)
