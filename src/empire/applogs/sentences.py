"""The `api` lines: every write to an app, as a sentence in the app's log.

An event sink (`empire.events`): each event about an app becomes one line from `api`, after
the write committed. A write that made a release says so as Heroku does,
`Release v5 created by alice: Deploy acme/acme-inc:v2` (config changes name the variables,
never their values); the others are Empire's own sentence (`alice scaled `web` on acme from
1(1X) to 2(1X)`, maintenance, domains, restarts, certificates, renames, runs). A commit
message follows in parentheses. A destroyed app's history is dropped.
"""

from __future__ import annotations

from empire.applog import API, AppLog, LogLine
from empire.events import Event

MAX_MESSAGE = 200  # characters of a commit message shown in a line


class AppLogSink:
    """Writes an `api` line into the app's log for each event about an app."""

    def __init__(self, applog: AppLog) -> None:
        self.applog = applog

    def publish(self, event: Event) -> None:
        if event.app_id is None or event.app is None:
            return
        if event.kind == "destroy":
            self.applog.forget(event.app_id)
            return
        self.applog.write(LogLine(event.app_id, event.app, API, sentence(event), event.at))


def sentence(event: Event) -> str:
    """The line's text for one event."""
    release, summary = event.data.get("release"), event.data.get("summary")
    if isinstance(release, int) and isinstance(summary, str):
        line = f"Release v{release} created by {event.user}: {summary}"
    else:
        line = event.text
    if event.message:
        message = event.message
        if len(message) > MAX_MESSAGE:
            message = message[:MAX_MESSAGE] + "..."
        line += f" ('{message}')"
    return line
