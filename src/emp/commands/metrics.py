"""Metrics: what an app's processes use and how its router traffic goes."""

from __future__ import annotations

from typing import Any

from emp.output import table
from emp.registry import check_args, command, option
from emp.session import Session, UsageFail


@command(
    "metrics",
    "show an app's CPU, memory, restarts and traffic",
    """
Shows, per process type, the instances running (of those asked for), CPU
(100% = one core, averaged over the window), memory in use and restarts;
then the router's requests per second, p50 and p95 latency and 5xx answers.

Options:

    -n <minutes>  the window, 1 to 60 minutes (default 5)

Example:

    $ emp metrics -a acme-inc
    process  running  cpu   memory   restarts
    web      2/2      1.2%  35.1 MB  0
    worker   1/1      0.3%  20.0 MB  1

    router, last 5 min: 0.42 req/s  p50 12 ms  p95 48 ms  5xx 1
""",
    app="needs",
    json=True,
    options=[option("-n", "--minutes", type=int, default=5)],
)
def metrics(s: Session, args: tuple[str, ...], minutes: int) -> None:
    """Print an app's figures."""
    check_args(args, 0, 0)
    if not 1 <= minutes <= 60:
        raise UsageFail()
    data = s.client.metrics(s.app(), minutes)
    if s.json:
        s.print_json(data)
        return
    rows = [["process", "running", "cpu", "memory", "restarts"]]
    for p in data.get("processes") or []:
        rows.append(
            [
                str(p.get("type", "")),
                f"{_text(p.get('running'))}/{_text(p.get('desired'))}",
                "-" if p.get("cpu_percent") is None else f"{p['cpu_percent']:.1f}%",
                _size(p.get("memory_bytes")),
                _text(p.get("restarts")),
            ]
        )
    s.out(table(rows).rstrip("\n"))
    router = data.get("router") or {}
    s.out("")
    s.out(
        f"router, last {data.get('minutes', minutes)} min: "
        f"{float(router.get('requests_per_second') or 0):.2f} req/s  "
        f"p50 {_ms(router.get('p50_ms'))}  p95 {_ms(router.get('p95_ms'))}  "
        f"5xx {int(router.get('errors_5xx') or 0)}"
    )


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    return f"{float(value):.0f} ms" if float(value) >= 10 else f"{float(value):.1f} ms"


def _size(value: Any) -> str:
    if value is None:
        return "-"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
