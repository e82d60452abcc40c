"""Apps: create, list, rename, destroy, maintenance, certificates."""

from __future__ import annotations

import dataclasses

from empire import certs as tls
from empire import formation as rules
from empire.errors import (
    Conflict,
    InvalidCertificate,
)
from empire.model import (
    App,
    Page,
    Role,
    User,
)
from empire.store import Transaction
from empire.usecases.access import Access
from empire.usecases.base import new_id, store_reads


class Apps(Access):
    """The app lifecycle."""

    # -- apps -------------------------------------------------------------------------------

    @store_reads
    def apps(self, page: Page, *, by: User) -> list[App]:
        """List the live apps `by` can view (a global admin: all of them) in the window `page`."""
        with self.store.read() as tx:
            return tx.apps(page) if by.admin else tx.visible_apps(by.id, page)

    @store_reads
    def app(self, ident: str, *, by: User) -> App:
        """Return an app by name or id."""
        return self._find_as(ident, by, Role.VIEWER, "viewing the app")

    def create(self, name: str, *, by: User, message: str | None = None) -> App:
        """Create an app, with `by` as its admin. No release is made until the first deploy."""
        self._require_message(message)
        rules.check_app_name(name)
        now = self.clock()
        app = App(id=new_id(), name=name, created_at=now, updated_at=now)
        with self.store.write() as tx:
            if tx.app(name) is not None:
                raise Conflict(f"Name {name} is already taken")
            tx.insert_app(app)
            self._grant_creator(tx, app, by)
            self._publish("create", by, app, f"{by.name} created {app.name}", message, tx=tx)
        return app

    def rename(self, ident: str, new_name: str, *, by: User, message: str | None = None) -> App:
        """Rename an app; its releases, config and domains follow it."""
        self._require_message(message)
        rules.check_app_name(new_name)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "renaming the app")
            if new_name == app.name:
                return app
            if tx.app(new_name) is not None:
                raise Conflict(f"Name {new_name} is already taken")
            renamed = dataclasses.replace(app, name=new_name, updated_at=self.clock())
            tx.update_app(renamed)
            release = tx.latest_release(app.id)
            text = f"{by.name} renamed {app.name} to {new_name}"
            self._publish("rename", by, renamed, text, message, tx=tx)
        if release is not None:
            self._submit(renamed, dataclasses.replace(release, app_name=new_name))
        return renamed

    def destroy(self, ident: str, *, by: User, message: str | None = None) -> App:
        """Soft-delete an app (its name becomes free) and remove it from the scheduler; return
        it as it was."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "destroying the app")
            tx.delete_app(app.id, self.clock())
            text = f"{by.name} destroyed {app.name}"
            self._publish("destroy", by, app, text, message, tx=tx)
        self.scheduler.remove(app.id)
        return app

    def set_maintenance(
        self, ident: str, enabled: bool, *, by: User, message: str | None = None
    ) -> App:
        """Turn maintenance mode on (no instances run) or off (the stored quantities run)."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.DEPLOYER, "turning maintenance mode on or off")
            app = dataclasses.replace(app, maintenance=enabled, updated_at=self.clock())
            tx.update_app(app)
            release = tx.latest_release(app.id)
            verb = "enabled" if enabled else "disabled"
            text = f"{by.name} {verb} maintenance mode on {app.name}"
            self._publish("maintenance", by, app, text, message, tx=tx)
        if release is not None:
            self._submit(app, release)
        return app

    def attach_cert(
        self, ident: str, cert: str, *, process: str = "web", by: User, message: str | None = None
    ) -> App:
        """Attach a certificate (a name, an ARN or PEM text) to a process; re-submits.

        PEM text is verified first (`empire.certs.verify`): it is loaded into the router every
        public app shares. When the app has domains it must cover at least one of them; those
        it does not cover are named in the audit event.
        """
        self._require_message(message)
        summary = self._verify_cert(process, cert)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "attaching a certificate")
            app = self._put_cert(tx, app, process, cert, summary, by, message)
            release = tx.latest_release(app.id)
        if release is not None:
            self._submit(app, release)
        return app

    def _verify_cert(self, process: str, cert: str) -> tls.Summary | None:
        """Check a certificate before any transaction: PEM text is verified (its summary
        returned), a name or an ARN checked for its form (None)."""
        rules.check_process_name(process)
        summary = tls.verify(cert, now=self.clock()) if tls.is_pem(cert) else None
        if summary is None:
            rules.check_certificate(cert)
        return summary

    def _put_cert(
        self,
        tx: Transaction,
        app: App,
        process: str,
        cert: str,
        summary: tls.Summary | None,
        by: User,
        message: str | None,
    ) -> App:
        """Store a verified certificate on the app (the caller checked the role) and record
        the event; raises when PEM text covers none of the app's domains."""
        data: dict[str, object] = {"process": process}
        text = f"{by.name} attached a certificate to {process} on {app.name}"  # never the PEM
        if summary is not None:
            uncovered = _check_covers(summary, app, self._domain_names(tx, app))
            data |= _described(summary, uncovered)
            if uncovered:
                text += f" (not covering {', '.join(uncovered)})"
        certs = {**app.certs, process: cert}
        app = dataclasses.replace(app, certs=certs, updated_at=self.clock())
        tx.update_app(app)
        self._publish("cert", by, app, text, message, data, tx=tx)
        return app

    def update_app(
        self, ident: str, changes: AppChanges, *, by: User, message: str | None = None
    ) -> App:
        """Change an app's maintenance mode, web certificate and name at once (PATCH
        /apps/{app}), with one rollout after the commit.

        Every role the changes need (deployer for maintenance, admin for a certificate or a
        name) and every rule is checked before anything changes, in the transaction that
        makes the changes: a request refused for one part has changed nothing. No change at
        all is a read (the viewer role)."""
        if changes.empty:
            return self._find_as(ident, by, Role.VIEWER, "viewing the app")
        self._require_message(message)
        if changes.name is not None:
            rules.check_app_name(changes.name)
        summary = self._verify_cert("web", changes.cert) if changes.cert is not None else None
        with self.store.write() as tx:
            role, action = changes.needs()
            app = self._app_as(tx, ident, by, role, action)
            renaming = changes.name is not None and changes.name != app.name
            if renaming and tx.app(changes.name or "") is not None:
                raise Conflict(f"Name {changes.name} is already taken")
            if changes.maintenance is not None:
                app = dataclasses.replace(
                    app, maintenance=changes.maintenance, updated_at=self.clock()
                )
                tx.update_app(app)
                verb = "enabled" if changes.maintenance else "disabled"
                text = f"{by.name} {verb} maintenance mode on {app.name}"
                self._publish("maintenance", by, app, text, message, tx=tx)
            if changes.cert is not None:
                app = self._put_cert(tx, app, "web", changes.cert, summary, by, message)
            if renaming and changes.name is not None:
                text = f"{by.name} renamed {app.name} to {changes.name}"
                app = dataclasses.replace(app, name=changes.name, updated_at=self.clock())
                tx.update_app(app)
                self._publish("rename", by, app, text, message, tx=tx)
            release = tx.latest_release(app.id)
        if release is not None:
            self._submit(app, dataclasses.replace(release, app_name=app.name))
        return app


@dataclasses.dataclass(frozen=True, slots=True)
class AppChanges:
    """What PATCH /apps/{app} asks to change; None leaves a field as it is."""

    maintenance: bool | None = None
    cert: str | None = None  # PEM text, a name or an ARN, for the web process
    name: str | None = None

    @property
    def empty(self) -> bool:
        return self.maintenance is None and self.cert is None and self.name is None

    def needs(self) -> tuple[Role, str]:
        """The role these changes need, and the action a refusal names."""
        if self.name is not None:
            return Role.ADMIN, "renaming the app"
        if self.cert is not None:
            return Role.ADMIN, "attaching a certificate"
        return Role.DEPLOYER, "turning maintenance mode on or off"


def _check_covers(summary: tls.Summary, app: App, domains: tuple[str, ...]) -> tuple[str, ...]:
    """The app's domains the certificate does not cover; refuse one that covers none."""
    uncovered = summary.uncovered(domains)
    if domains and len(uncovered) == len(domains):
        raise InvalidCertificate(
            f"the certificate is for {', '.join(summary.names[:5])}"
            f"{' and more' if len(summary.names) > 5 else ''}, which covers none of "
            f"{app.name}'s domains ({', '.join(domains[:5])}"
            f"{', ...' if len(domains) > 5 else ''}): attach a certificate issued for them"
        )
    return uncovered


def _described(summary: tls.Summary, uncovered: tuple[str, ...]) -> dict[str, object]:
    """What an audit event says of a PEM certificate (never its key)."""
    return {
        "names": list(summary.names),
        "not_after": summary.not_after.isoformat(),
        "fingerprint": summary.fingerprint,
        "uncovered": list(uncovered),
    }
