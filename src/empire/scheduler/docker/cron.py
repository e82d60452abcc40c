"""Scheduled processes: run one-off containers when their cron schedule comes due.

Schedules are Empire's AWS form, six fields with a year (`cron(0 12 * * ? *)` or
`0/5 * * * ? *`, days of week 1-7 from Sunday), or the plain five-field form (`*/5 * * * *`).
A background thread checks every `interval` seconds; `run_due(now)` does one check and can be
called directly. Only due times after the last check run, so nothing is backfilled after a
pause.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime

from croniter import croniter

from empire.errors import Invalid
from empire.periodic import Periodic
from empire.scheduler import Manifest, ManifestProcess

log = logging.getLogger(__name__)

Launch = Callable[[Manifest, ManifestProcess], None]
_AWS = re.compile(r"^cron\((?P<expr>.*)\)$", re.IGNORECASE)
_YEARS = re.compile(r"^(\d{4})(?:-(\d{4}))?$")
_WEEKDAY = re.compile(r"^(?P<base>[^#/]*)(?P<rest>[#/].*)?$")


def parse(schedule: str) -> tuple[str, str]:
    """Return (a croniter expression, the AWS year field or `*`); raise Invalid when wrong."""
    text = schedule.strip()
    match = _AWS.match(text)
    fields = (match.group("expr") if match else text).split()
    if len(fields) not in (5, 6):
        raise Invalid(
            f'invalid cron schedule "{schedule}": use 5 fields (*/5 * * * *) or '
            "AWS's 6 (0 12 * * ? *)"
        )
    year = "*"
    if len(fields) == 6:
        *fields, year = fields
        fields[4] = _aws_weekdays(fields[4])
    fields = ["*" if f == "?" else f for f in fields]
    expression = " ".join(fields)
    if not croniter.is_valid(expression) or not _year_ok(year):
        raise Invalid(f'invalid cron schedule "{schedule}"')
    return expression, year


def due(schedule: str, after: datetime, now: datetime) -> bool:
    """Whether the schedule has a time in (after, now]."""
    expression, year = parse(schedule)
    following = croniter(expression, after).get_next(datetime)
    return following <= now and _in_years(year, following.year)


def _aws_weekdays(field: str) -> str:
    """Shift AWS's day-of-week numbers (1 = Sunday) to cron's (0 = Sunday)."""

    def shift(token: str) -> str:
        return str(int(token) - 1) if token.isdigit() and 1 <= int(token) <= 7 else token

    items = []
    for item in field.split(","):
        m = _WEEKDAY.match(item)
        base, rest = (m.group("base"), m.group("rest") or "") if m else (item, "")
        last = base.endswith("L") and base != "L"
        stem = base.removesuffix("L") if last else base
        shifted = "-".join(shift(part) for part in stem.split("-"))
        items.append(f"{shifted}{'L' if last else ''}{rest}")
    return ",".join(items)


def _year_ok(year: str) -> bool:
    return year in ("*", "?") or all(_YEARS.match(y) for y in year.split(","))


def _in_years(year: str, value: int) -> bool:
    if year in ("*", "?"):
        return True
    for item in year.split(","):
        m = _YEARS.match(item)
        if m and int(m.group(1)) <= value <= int(m.group(2) or m.group(1)):
            return True
    return False


class Cron:
    """Remembers each app's scheduled processes and launches them when due."""

    def __init__(self, launch: Launch, clock: Callable[[], datetime], interval: float) -> None:
        self._launch = launch
        self._clock = clock
        self._interval = interval
        self._lock = threading.Lock()
        self._manifests: dict[str, Manifest] = {}
        self._checked: dict[tuple[str, str], datetime] = {}
        self._thread = Periodic("empire-cron", interval, lambda: self.run_due(self._clock()))

    def track(self, manifest: Manifest) -> None:
        """Schedule the manifest's cron processes from now on (its quantity > 0 ones)."""
        now = self._clock()
        with self._lock:
            self._manifests[manifest.app_id] = manifest
            for process in manifest.processes:
                if process.schedule:
                    self._checked.setdefault((manifest.app_id, process.name), now)

    def forget(self, app_id: str) -> None:
        with self._lock:
            self._manifests.pop(app_id, None)
            for key in [k for k in self._checked if k[0] == app_id]:
                del self._checked[key]

    def run_due(self, now: datetime) -> list[tuple[str, str]]:
        """Launch every scheduled process due since the last check; return (app id, process)."""
        with self._lock:
            manifests = list(self._manifests.values())
        launched = []
        for manifest in manifests:
            for process in manifest.processes:
                if not process.schedule:
                    continue
                key = (manifest.app_id, process.name)
                with self._lock:
                    after = self._checked.get(key, now)
                    self._checked[key] = max(after, now)
                try:
                    if process.quantity > 0 and due(process.schedule, after, now):
                        self._launch(manifest, process)
                        launched.append(key)
                except Exception:  # one app's failure must not stop the others' schedules
                    log.exception("cron: %s %s failed to start", manifest.app_name, process.name)
        return launched

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._thread.close()
