"""Units: HerokuClient headers, errors, pagination and streams over a fake transport."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import httpx
import pytest

from emp import __version__
from emp.client import ApiError, HerokuClient, Unreachable
from emp.credentials import Creds

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, **kwargs: object) -> tuple[HerokuClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.Client(base_url="http://empire.test", transport=httpx.MockTransport(record))
    client = HerokuClient(http, url="http://empire.test", **kwargs)  # type: ignore[arg-type]
    return client, seen


def test_every_request_carries_the_heroku_headers() -> None:
    client, seen = _client(
        lambda r: httpx.Response(200, json={"name": "acme"}), creds=Creds("bob", "tok")
    )
    client.app("acme")
    client.create_app("acme", message="déploiement #1")
    first, second = seen
    assert first.headers["accept"] == "application/vnd.heroku+json; version=3"
    assert first.headers["user-agent"] == f"emp/{__version__}"
    assert first.headers["authorization"] == "Basic Ym9iOnRvaw=="
    assert uuid.UUID(first.headers["request-id"]) != uuid.UUID(second.headers["request-id"])
    assert "commit-message" not in first.headers
    raw = [v for k, v in second.headers.raw if k.lower() == b"commit-message"]
    assert raw == ["déploiement #1".encode()]  # UTF-8 on the wire
    assert second.headers["content-type"] == "application/json"
    assert json.loads(second.content) == {"name": "acme"}


def test_lists_follow_next_range() -> None:
    pages = {
        "name ..; max=1000": (206, [{"name": "a"}, {"name": "b"}], "name ]b..; max=2, order=asc"),
        "name ]b..; max=2, order=asc": (200, [{"name": "c"}], None),
    }

    def serve(request: httpx.Request) -> httpx.Response:
        status, body, more = pages[request.headers["range"]]
        headers = {"Next-Range": more} if more else {}
        return httpx.Response(status, json=body, headers=headers)

    client, seen = _client(serve)
    assert [a["name"] for a in client.apps()] == ["a", "b", "c"]
    assert len(seen) == 2


def test_releases_ask_for_the_newest_and_do_not_follow() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        headers = {"Next-Range": "version ]4..; max=2, order=desc"}
        return httpx.Response(206, json=[{"version": 5}, {"version": 4}], headers=headers)

    client, seen = _client(serve)
    assert [r["version"] for r in client.releases("acme", 2)] == [5, 4]
    assert [r.headers["range"] for r in seen] == ["version ..; max=2, order=desc"]


def test_errors_carry_status_id_and_message() -> None:
    body = {"id": "not_found", "message": "Couldn't find that app.", "url": ""}
    client, _ = _client(lambda r: httpx.Response(404, json=body))
    with pytest.raises(ApiError) as caught:
        client.app("nope")
    assert (caught.value.status, caught.value.id, caught.value.message) == (
        404,
        "not_found",
        "Couldn't find that app.",
    )


def test_non_json_errors_keep_the_text() -> None:
    client, _ = _client(lambda r: httpx.Response(502, text="Bad gateway from proxy\n"))
    with pytest.raises(ApiError, match=r"^Bad gateway from proxy$"):
        client.apps()


def test_warnings_are_reported() -> None:
    warnings: list[str] = []
    client, _ = _client(
        lambda r: httpx.Response(200, json=[], headers={"X-Heroku-Warning": "slow down"}),
        warn=warnings.append,
    )
    client.formation("acme")
    assert warnings == ["slow down"]


def test_deploy_stream_yields_messages() -> None:
    lines = b'{"status": "a", "id": "x"}\n\nnot json\n{"status": "b"}\n'
    client, seen = _client(lambda r: httpx.Response(200, content=lines))
    messages = list(client.deploy("acme/web:1", app="acme", stream=True, message="go"))
    assert messages == [{"status": "a", "id": "x"}, {"stream": "not json\n"}, {"status": "b"}]
    assert seen[0].url.path == "/apps/acme/deploys"
    assert json.loads(seen[0].content) == {"image": "acme/web:1", "stream": True}
    assert seen[0].headers["commit-message"] == "go"


def test_stream_errors_are_api_errors() -> None:
    body = {"id": "message_required", "message": "Header 'Commit-Message' is required"}
    client, _ = _client(lambda r: httpx.Response(400, json=body))
    with pytest.raises(ApiError) as caught:
        list(client.deploy("acme/web:1"))
    assert caught.value.id == "message_required"


def test_unreachable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    client, _ = _client(refuse)
    with pytest.raises(Unreachable, match=r"^cannot reach Empire at http://empire\.test: "):
        client.apps()


def test_names_are_escaped_in_paths() -> None:
    client, seen = _client(lambda r: httpx.Response(204))
    client.remove_domain("acme", "a/b.example.com")
    assert seen[0].url.raw_path == b"/apps/acme/domains/a%2Fb.example.com"


def test_a_range_the_server_already_gave_stops_the_list() -> None:
    """A server alternating two Next-Range values would keep emp paging forever."""
    ranges = ["name ]a..; max=1", "name ]b..; max=1"]

    def serve(request: httpx.Request) -> httpx.Response:
        more = ranges[len(seen) % 2]
        return httpx.Response(206, json=[{"name": "x"}], headers={"Next-Range": more})

    client, seen = _client(serve)
    with pytest.raises(ApiError) as caught:
        client.apps()
    assert caught.value.message == (
        "the API sent the range 'name ]b..; max=1' of /apps a second time after 3 pages: "
        "stopped, as the list would never end"
    )
    assert [r.headers["range"] for r in seen] == ["name ..; max=1000", *reversed(ranges)]


def test_lists_stop_at_a_bound_of_pages_and_items() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        more = f"name ]{len(seen):06d}..; max=2"  # always a new range
        return httpx.Response(206, json=[{"name": "x"}] * 2, headers={"Next-Range": more})

    client, seen = _client(endless, max_pages=5)
    with pytest.raises(ApiError, match=r"goes on past 5 pages and 10 items: stopped at"):
        client.apps()
    assert len(seen) == 5
    client, seen = _client(endless, max_items=7)
    with pytest.raises(ApiError, match=r"goes on past 4 pages and 8 items: stopped at"):
        client.apps()
    assert len(seen) == 4


def test_a_list_within_the_bounds_is_whole() -> None:
    def pages(request: httpx.Request) -> httpx.Response:
        if len(seen) <= 5:
            more = {"Next-Range": f"name ]{len(seen)}..; max=1"}
            return httpx.Response(206, json=[{"name": str(len(seen))}], headers=more)
        return httpx.Response(200, json=[{"name": "last"}])

    client, seen = _client(pages, max_pages=6)
    assert [a["name"] for a in client.apps()] == ["1", "2", "3", "4", "5", "last"]


def test_credentials_go_only_to_the_api_itself() -> None:
    """A log session's URL comes from the server: emp's token is not sent to another host."""
    session = {"logplex_url": "http://logs.elsewhere.test:9000/stream/s3cret"}

    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/log-sessions"):
            return httpx.Response(200, json=session)
        return httpx.Response(200, content=b"a log line\n")

    client, seen = _client(serve, creds=Creds("bob", "tok"))
    assert b"".join(client.logs("acme", {})) == b"a log line\n"
    assert seen[0].headers["authorization"] == "Basic Ym9iOnRvaw=="
    assert str(seen[1].url) == session["logplex_url"]
    assert "authorization" not in seen[1].headers
    session["logplex_url"] = "http://empire.test/log-streams/s3cret"  # the API's own origin
    list(client.logs("acme", {}))
    assert seen[3].headers["authorization"] == "Basic Ym9iOnRvaw=="


def test_writes_that_release_wait_while_reads_keep_the_client_s_timeout() -> None:
    """A config change answers once its release is live (a release phase can take an hour):
    emp waits for it, where a read gives up at the client's read timeout (here 0.3 s, on a
    real socket)."""
    import contextlib
    import http.server
    import threading
    import time

    class Slow(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            time.sleep(1.0)
            body = b'{"A": "1"}'
            with contextlib.suppress(OSError):  # the read's client is gone by now
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        do_GET = do_PATCH = answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client(base_url=url, timeout=httpx.Timeout(0.3)) as http:
            client = HerokuClient(http, url=url)
            assert client.update_config("acme", {"A": "1"}) == {"A": "1"}
            with pytest.raises(Unreachable):
                client.config("acme")
    finally:
        server.shutdown()
        server.server_close()
