"""The facade's app use cases, on SQLite with the fake scheduler and images."""

from __future__ import annotations

import dataclasses

import pytest

from empire.errors import Conflict, Invalid, MessageRequired, NotFound
from empire.model import Exposure, Page
from support.stack import Stack


def test_create_lists_and_finds_by_name_or_id(stack: Stack) -> None:
    app = stack.empire.create("acme-inc", by=stack.user)
    assert [a.name for a in stack.empire.apps(Page(field="name"), by=stack.user)] == ["acme-inc"]
    assert stack.empire.app(app.id, by=stack.user).name == "acme-inc"
    assert stack.empire.app("acme-inc", by=stack.user).id == app.id
    assert str(stack.events.events[-1]) == "alice created acme-inc"


def test_create_makes_no_release(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    assert stack.empire.releases("acme-inc", Page(field="version"), by=stack.user) == []


@pytest.mark.parametrize("name", ["", "ab", "Acme", "1acme", "acme_inc", "a" * 31, "acme inc"])
def test_invalid_names_are_refused(stack: Stack, name: str) -> None:
    with pytest.raises(Invalid, match="invalid app name"):
        stack.empire.create(name, by=stack.user)
    assert stack.empire.apps(Page(field="name"), by=stack.user) == []


def test_duplicate_name(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    with pytest.raises(Conflict, match="Name acme-inc is already taken"):
        stack.empire.create("acme-inc", by=stack.user)


def test_rename_really_renames_and_keeps_history(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.set_config("acme-inc", {"FOO": "bar"}, by=stack.user)
    stack.empire.rename("acme-inc", "acme-corp", by=stack.user)
    with pytest.raises(NotFound):
        stack.empire.app("acme-inc", by=stack.user)
    assert stack.empire.config("acme-corp", by=stack.user) == {"FOO": "bar"}
    assert [
        r.version for r in stack.empire.releases("acme-corp", Page(field="version"), by=stack.user)
    ] == [1, 2]
    manifest = stack.scheduler.manifests[stack.empire.app("acme-corp", by=stack.user).id]
    assert manifest.app_name == "acme-corp"


def test_rename_to_a_taken_name(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    stack.empire.create("acme-two", by=stack.user)
    with pytest.raises(Conflict, match="Name acme-two is already taken"):
        stack.empire.rename("acme-inc", "acme-two", by=stack.user)
    assert stack.empire.app("acme-inc", by=stack.user)


def test_destroy_is_soft_and_frees_the_name(stack: Stack) -> None:
    first = stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.destroy("acme-inc", by=stack.user)
    assert first.app_id not in stack.scheduler.manifests
    with pytest.raises(NotFound):
        stack.empire.app("acme-inc", by=stack.user)
    again = stack.empire.create("acme-inc", by=stack.user)
    assert again.id != first.app_id
    assert stack.empire.releases("acme-inc", Page(field="version"), by=stack.user) == []


def test_messages_required(tmp_path: object) -> None:
    from pathlib import Path

    from support.stack import make_stack

    stack = make_stack(Path(str(tmp_path)), messages_required=True)
    with pytest.raises(MessageRequired):
        stack.empire.create("acme-inc", by=stack.user)
    assert stack.empire.apps(Page(field="name"), by=stack.user) == []
    app = stack.empire.create("acme-inc", by=stack.user, message="new service")
    assert app.name == "acme-inc"
    assert str(stack.events.events[-1]) == "alice created acme-inc: 'new service'"


def test_domains_make_an_app_public_until_the_last_goes(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    stack.empire.add_domain("acme-inc", "www.example.com", by=stack.user)
    stack.empire.add_domain("acme-inc", "API.Example.com", by=stack.user)
    app = stack.empire.app("acme-inc", by=stack.user)
    assert app.exposure is Exposure.PUBLIC
    manifest = stack.scheduler.manifests[app.id]
    assert manifest.public and manifest.domains == ("api.example.com", "www.example.com")
    stack.empire.remove_domain("acme-inc", "www.example.com", by=stack.user)
    assert stack.empire.app("acme-inc", by=stack.user).exposure is Exposure.PUBLIC
    stack.empire.remove_domain("acme-inc", "api.example.com", by=stack.user)
    assert stack.empire.app("acme-inc", by=stack.user).exposure is Exposure.PRIVATE
    assert not stack.scheduler.manifests[app.id].public


def test_a_stale_copy_of_the_app_written_back_keeps_its_exposure(stack: Stack) -> None:
    """Maintenance, a rename or a certificate write the app's row from a copy read earlier; a
    domain added meanwhile keeps the app public (only domain changes write the exposure)."""
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    with stack.store.read() as tx:
        stale = tx.app("acme-inc")
    assert stale is not None and stale.exposure is Exposure.PRIVATE
    stack.empire.add_domain("acme-inc", "www.example.com", by=stack.user)
    with stack.store.write() as tx:
        tx.update_app(dataclasses.replace(stale, maintenance=True))
    stack.empire.set_maintenance("acme-inc", False, by=stack.user)
    app = stack.empire.app("acme-inc", by=stack.user)
    assert app.exposure is Exposure.PUBLIC
    assert stack.scheduler.manifests[app.id].domains == ("www.example.com",)


def test_domains_are_globally_unique(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    stack.empire.create("acme-two", by=stack.user)
    stack.empire.add_domain("acme-inc", "www.example.com", by=stack.user)
    with pytest.raises(Conflict, match="already added to this app"):
        stack.empire.add_domain("acme-inc", "www.example.com", by=stack.user)
    with pytest.raises(Conflict, match="in use by another app"):
        stack.empire.add_domain("acme-two", "www.example.com", by=stack.user)
    with pytest.raises(Invalid, match="invalid hostname"):
        stack.empire.add_domain("acme-two", "not a host", by=stack.user)
    with pytest.raises(NotFound, match="not a domain of acme-two"):
        stack.empire.remove_domain("acme-two", "www.example.com", by=stack.user)


def test_maintenance_runs_nothing_and_keeps_quantities(stack: Stack) -> None:
    stack.empire.deploy("acme/acme-inc:v1", by=stack.user)
    app = stack.empire.set_maintenance("acme-inc", True, by=stack.user)
    assert app.maintenance
    web = stack.scheduler.manifests[app.id].process("web")
    assert web is not None and web.quantity == 0
    stack.empire.set_maintenance("acme-inc", False, by=stack.user)
    web = stack.scheduler.manifests[app.id].process("web")
    assert web is not None and web.quantity == 1
    assert str(stack.events.events[-1]) == "alice disabled maintenance mode on acme-inc"


def test_tokens_authenticate_until_they_expire(stack: Stack) -> None:
    from empire.errors import Unauthorized
    from support.stack import FrozenClock

    assert stack.empire.authenticate(stack.token) == stack.user
    with pytest.raises(Unauthorized):
        stack.empire.authenticate("not-a-token")
    assert isinstance(stack.clock, FrozenClock)
    stack.clock.advance(days=31)
    with pytest.raises(Unauthorized):
        stack.empire.authenticate(stack.token)


def test_certificates_are_names_arns_or_pem_with_a_key(stack: Stack) -> None:
    stack.empire.create("acme-inc", by=stack.user)
    stack.empire.attach_cert("acme-inc", "arn:aws:acm:us-east-1:1:certificate/x", by=stack.user)
    with pytest.raises(Invalid, match="certificate chain and its private key"):
        stack.empire.attach_cert(
            "acme-inc",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            by=stack.user,
        )
    assert stack.empire.app("acme-inc", by=stack.user).certs == {
        "web": "arn:aws:acm:us-east-1:1:certificate/x"
    }
    [attached, created] = stack.empire.audit(
        "acme-inc", Page(field="created_at", max=2, descending=True), by=stack.user
    )
    assert (attached.kind, attached.text) == (
        "cert",
        "alice attached a certificate to web on acme-inc",
    )
    assert created.kind == "create"


def test_reconcile_discards_images_only_destroyed_apps_used(stack: Stack) -> None:
    gone = stack.empire.deploy("acme/gone:v1", by=stack.user)
    shared = stack.empire.deploy("acme/shared:v1", by=stack.user)
    stack.empire.deploy("acme/shared:v1", app="gone", by=stack.user)
    kept = stack.empire.deploy("acme/kept:v1", by=stack.user)
    stack.empire.destroy("gone", by=stack.user)
    stack.empire.reconcile()
    stack.empire.reconcile()
    assert stack.images.discarded == [gone.slug.image]
    assert shared.slug.image not in stack.images.discarded
    assert kept.app_id in stack.scheduler.manifests


def test_every_write_is_in_the_audit_trail(stack: Stack) -> None:
    from empire.model import ScaleUpdate

    stack.empire.deploy("acme/acme-inc:v1", by=stack.user, message="first")
    stack.empire.set_config("acme-inc", {"FOO": "1", "BAR": "2"}, by=stack.user)
    stack.empire.scale("acme-inc", [ScaleUpdate("web", 2)], by=stack.user)
    stack.empire.add_domain("acme-inc", "www.example.com", by=stack.user)
    events = stack.empire.audit("acme-inc", Page(field="created_at", max=100), by=stack.user)
    assert [str(e) for e in events] == [
        "alice created acme-inc: 'first'",
        "alice deployed acme/acme-inc:v1 to acme-inc (v1): 'first'",
        "alice changed environment variables on acme-inc (BAR, FOO)",
        "alice scaled `web` on acme-inc from 1(1X) to 2(1X)",
        "alice added www.example.com to acme-inc",
    ]
    assert [
        e.kind for e in stack.empire.audit("acme-inc", Page("created_at", max=2), by=stack.user)
    ] == [
        "create",
        "deploy",
    ]
