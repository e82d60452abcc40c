"""Issue 13 item 5: the audit trail is keyed by app id, not by name.

A new app that reuses a destroyed app's name must not see that app's events (variable names,
commit messages, grants); a deploy addressed by app id is recorded under the app's name and is
in `emp audit -a NAME`.
"""

from __future__ import annotations

from empire.model import Page, RunRequest, ScaleUpdate
from support.stack import Stack

EVERYTHING = Page(field="created_at", max=1000)


def texts(stack: Stack, app: str) -> list[str]:
    return [str(e) for e in stack.empire.audit(app, EVERYTHING, by=stack.user)]


def test_a_new_app_reusing_a_name_does_not_see_the_old_apps_events(stack: Stack) -> None:
    e, alice = stack.empire, stack.user
    bob, _ = e.create_user("bob")
    old = e.deploy("acme/acme-inc:v1", by=alice, message="secret plan")
    e.set_config("acme-inc", {"STRIPE_LIVE_KEY": "sk"}, by=alice)
    e.grant("acme-inc", "bob", "viewer", by=alice)
    e.destroy("acme-inc", by=alice)

    new = e.create("acme-inc", by=alice)
    assert new.id != old.app_id
    assert texts(stack, "acme-inc") == ["alice created acme-inc"]
    assert texts(stack, new.id) == ["alice created acme-inc"]
    everything = " ".join(str(event.data) + str(event) for event in stack.events.events)
    assert "STRIPE_LIVE_KEY" in everything  # recorded, under the old app's id
    assert [ev.app_id for ev in stack.events.events if ev.app == "acme-inc"][:5] == [old.app_id] * 5
    assert bob.name not in " ".join(texts(stack, "acme-inc"))


def test_writes_addressed_by_app_id_are_in_the_trail_under_the_name(stack: Stack) -> None:
    e, alice = stack.empire, stack.user
    first = e.deploy("acme/acme-inc:v1", by=alice)
    app_id = first.app_id
    again = e.deploy("acme/acme-inc:v2", app=app_id, by=alice, message="by id")
    assert again.app_name == "acme-inc"
    e.scale(app_id, [ScaleUpdate("web", 2)], by=alice)
    e.run(app_id, RunRequest(command="ls"), by=alice)
    e.restart(app_id, by=alice)
    trail = texts(stack, "acme-inc")
    assert trail[1:] == [
        "alice deployed acme/acme-inc:v1 to acme-inc (v1)",
        "alice deployed acme/acme-inc:v2 to acme-inc (v2): 'by id'",
        "alice scaled `web` on acme-inc from 1(1X) to 2(1X)",
        "alice started running `ls` (detached) on acme-inc",
        "alice restarted acme-inc",
    ]
    assert texts(stack, app_id) == trail
    assert {ev.app for ev in stack.events.events} == {"acme-inc"}


def test_a_renamed_app_keeps_its_trail_and_its_old_name_is_free(stack: Stack) -> None:
    e, alice = stack.empire, stack.user
    e.create("acme-inc", by=alice)
    e.rename("acme-inc", "acme-two", by=alice)
    e.create("acme-inc", by=alice)
    assert texts(stack, "acme-two") == [
        "alice created acme-inc",
        "alice renamed acme-inc to acme-two",
    ]
    assert texts(stack, "acme-inc") == ["alice created acme-inc"]
