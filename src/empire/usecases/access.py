"""Access: per-app roles granted to users or teams, and teams themselves.

Roles: viewer < deployer < admin (see `model.Role`); a global admin (`User.admin`) holds every
role on every app. Each use case checks the caller's role in the transaction that loads the
app: nothing at all for a global admin, one query for anyone else. An app the caller cannot
even view answers exactly as an unknown app does, so app names do not leak; an app they can
view but not act on answers Forbidden, naming the role the action needs and how to get it.
"""

from __future__ import annotations

import dataclasses

from empire import formation as rules
from empire.errors import Conflict, Forbidden, Invalid, NotFound
from empire.model import App, Grant, Role, Team, User
from empire.store import AppView, Transaction
from empire.usecases.base import Base, new_id

TEAM_PREFIX = "team:"


def parse_role(value: str | Role) -> Role:
    """Return the role named `value`, or raise Invalid listing the roles."""
    try:
        return Role(value)
    except ValueError:
        raise Invalid(
            f"invalid role {value!r}: use viewer (read), deployer (deploy, scale, restart, "
            "run, config) or admin (destroy, domains, access)"
        ) from None


class Access(Base):
    """Who may do what to an app; the teams roles can be granted to."""

    # -- checks -------------------------------------------------------------------------------

    def _authorize(
        self,
        tx: Transaction,
        by: User,
        app: App,
        role: Role,
        action: str,
        *,
        ident: str | None = None,
    ) -> None:
        """Raise unless `by` holds `role` on `app`: NotFound when they cannot even view it
        (the very answer of an unknown app named `ident`), Forbidden when their role is too
        low. A global admin costs no query at all; anyone else, one."""
        if not by.admin:
            check_role(by, app.name, tx.role(app.id, by.id), role, action, ident or app.name)

    def _app_as(self, tx: Transaction, ident: str, by: User, role: Role, action: str) -> App:
        """Load an app by name or id and check `by` holds `role` on it (one query)."""
        return self._view_as(tx, ident, by, role, action).app

    def _view_as(
        self,
        tx: Transaction,
        ident: str,
        by: User,
        role: Role,
        action: str,
        *,
        formation: bool = False,
        config: bool = False,
    ) -> AppView:
        """`_app_as`, with the current formation and/or config vars read in the same query."""
        view = tx.app_view(
            ident, role_of=None if by.admin else by.id, formation=formation, config=config
        )
        if view is None:
            raise unknown_app(ident)
        if not by.admin:
            check_role(by, view.app.name, view.role, role, action, ident)
        return view

    def _find_as(self, ident: str, by: User, role: Role, action: str) -> App:
        """`_app_as` in a read transaction of its own."""
        with self.store.read() as tx:
            return self._app_as(tx, ident, by, role, action)

    def _grant_creator(self, tx: Transaction, app: App, by: User) -> None:
        """Make the user who created an app its admin (in the transaction that created it)."""
        tx.put_grant(Grant(new_id(), app.id, app.name, Role.ADMIN, self.clock(), user=by))

    def _global_admin(self, by: User, action: str) -> None:
        if not by.admin:
            raise Forbidden(
                f"{by.name} is not a global admin: {action} needs one "
                "(ask a global admin, or run `empire teams` on the server)"
            )

    # -- grants -------------------------------------------------------------------------------

    def access(self, ident: str, *, by: User) -> list[Grant]:
        """List who holds which role on the app (viewers and above may look)."""
        with self.store.read() as tx:
            app = self._app_as(tx, ident, by, Role.VIEWER, "listing collaborators")
            return tx.grants(app.id)

    def grant(
        self,
        ident: str,
        subject: str,
        role: str | Role,
        *,
        by: User,
        message: str | None = None,
        create: bool = True,
    ) -> Grant:
        """Give a user (`bob`, an e-mail address or an id) or a team (`team:ops`) a role on the
        app; an existing grant gets the new role. With `create` False, only an existing grant
        changes. Refuses to demote the app's last admin unless `by` is a global admin."""
        self._require_message(message)
        wanted = parse_role(role)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "changing access")
            tx.lock_app(app.id)
            grants = tx.grants(app.id)
            existing = _matching(grants, subject)
            if existing is None:
                if not create:
                    raise _no_grant(subject, app)
                user, team = self._subject(tx, subject)
                grant = Grant(new_id(), app.id, app.name, wanted, self.clock(), user, team)
            elif existing.role is wanted:
                return existing
            else:
                if existing.role is Role.ADMIN:
                    self._keep_an_admin(grants, existing, by, app)
                grant = dataclasses.replace(existing, role=wanted)
            tx.put_grant(grant)
            text = f"{by.name} granted {_label(grant)} {wanted} on {app.name}"
            if existing is not None:
                text += f" (was {existing.role})"
            self._publish("access", by, app, text, message, tx=tx)
        return grant

    def revoke(self, ident: str, subject: str, *, by: User, message: str | None = None) -> Grant:
        """Take a user's or a team's role on the app away; return the grant that was removed.
        Refuses to remove the app's last admin unless `by` is a global admin."""
        self._require_message(message)
        with self.store.write() as tx:
            app = self._app_as(tx, ident, by, Role.ADMIN, "changing access")
            tx.lock_app(app.id)
            grants = tx.grants(app.id)
            existing = _matching(grants, subject)
            if existing is None:
                raise _no_grant(subject, app)
            if existing.role is Role.ADMIN:
                self._keep_an_admin(grants, existing, by, app)
            tx.delete_grant(existing.id)
            text = f"{by.name} revoked {existing.role} on {app.name} from {_label(existing)}"
            self._publish("access", by, app, text, message, tx=tx)
        return existing

    def _subject(self, tx: Transaction, subject: str) -> tuple[User | None, Team | None]:
        if subject.startswith(TEAM_PREFIX):
            team = self._team(tx, subject.removeprefix(TEAM_PREFIX))
            return None, team
        user = tx.find_user(subject)
        if user is None:
            raise _no_user(subject)
        return user, None

    def _keep_an_admin(self, grants: list[Grant], changing: Grant, by: User, app: App) -> None:
        if by.admin:
            return
        if [g for g in grants if g.role is Role.ADMIN] == [changing]:
            raise Conflict(
                f"{_label(changing)} is the last admin of {app.name}: make someone else an admin "
                f"first (emp access-add USER admin -a {app.name}), or ask a global admin"
            )

    # -- teams --------------------------------------------------------------------------------

    def create_team(self, name: str, *, by: User, message: str | None = None) -> Team:
        """Create a team (global admins only)."""
        self._global_admin(by, "creating a team")
        if not rules.TEAM_NAME.match(name):
            raise Invalid(
                f"invalid team name {name!r}: use 2 to 64 characters, lowercase letters, digits "
                "and dashes, starting with a letter (e.g. ops)"
            )
        team = Team(new_id(), name, self.clock())
        with self.store.write() as tx:
            if tx.team(name) is not None:
                raise Conflict(f"team {name} already exists")
            tx.insert_team(team)
            self._publish("team", by, None, f"{by.name} created team {name}", message, tx=tx)
        return team

    def teams(self, *, by: User) -> list[Team]:
        """List every team for a global admin; the teams they belong to for anyone else."""
        with self.store.read() as tx:
            return tx.teams(None if by.admin else by.id)

    def team(self, ident: str, *, by: User) -> Team:
        """Return a team by name or id; only its members and global admins can see it."""
        with self.store.read() as tx:
            return self._team_as(tx, ident, by)

    def team_members(self, ident: str, *, by: User) -> tuple[Team, list[User]]:
        """Return a team and its members, by name; members and global admins may look."""
        with self.store.read() as tx:
            team = self._team_as(tx, ident, by)
            return team, tx.team_members(team.id)

    def destroy_team(self, ident: str, *, by: User, message: str | None = None) -> Team:
        """Delete a team and every grant it held (global admins only)."""
        self._global_admin(by, "destroying a team")
        with self.store.write() as tx:
            team = self._team(tx, ident)
            tx.delete_team(team.id)
            text = f"{by.name} destroyed team {team.name}"
            self._publish("team", by, None, text, message, tx=tx)
        return team

    def add_member(
        self, ident: str, user: str, *, by: User, message: str | None = None
    ) -> tuple[Team, User]:
        """Add a user (name, e-mail address or id) to a team; adding a member again is a
        no-op (global admins only)."""
        self._global_admin(by, "changing a team")
        with self.store.write() as tx:
            team = self._team(tx, ident)
            member = tx.find_user(user)
            if member is None:
                raise _no_user(user)
            if tx.add_member(team.id, member.id):
                text = f"{by.name} added {member.name} to team {team.name}"
                self._publish("team", by, None, text, message, tx=tx)
        return team, member

    def remove_member(
        self, ident: str, user: str, *, by: User, message: str | None = None
    ) -> tuple[Team, User]:
        """Remove a user from a team (global admins only)."""
        self._global_admin(by, "changing a team")
        with self.store.write() as tx:
            team = self._team(tx, ident)
            member = next(
                (m for m in tx.team_members(team.id) if user in (m.name, m.email, m.id)), None
            )
            if member is None:
                raise NotFound(
                    f"Couldn't find that member: {user} is not a member of team {team.name}",
                    resource="member",
                )
            tx.remove_member(team.id, member.id)
            text = f"{by.name} removed {member.name} from team {team.name}"
            self._publish("team", by, None, text, message, tx=tx)
        return team, member

    def _team(self, tx: Transaction, ident: str) -> Team:
        team = tx.team(ident)
        if team is None:
            raise _no_team(ident)
        return team

    def _team_as(self, tx: Transaction, ident: str, by: User) -> Team:
        team = tx.team(ident)
        if team is None or not (by.admin or tx.is_member(team.id, by.id)):
            raise _no_team(ident)  # a team you are not in answers as an unknown one
        return team


def check_role(by: User, app: str, have: Role | None, need: Role, action: str, ident: str) -> None:
    """Raise unless role `have` on app `app` includes `need`: NotFound without any role (the
    answer of an unknown app named `ident`), Forbidden when it is too low."""
    if have is None:
        raise unknown_app(ident)
    if have < need:
        raise Forbidden(
            f"{by.name} is a {have} of {app}: {action} needs the {need} role "
            f"(an admin of {app} can grant it: emp access-add {by.name} {need} -a {app})"
        )


def unknown_app(ident: str) -> NotFound:
    return NotFound(f"Couldn't find that app: no app named {ident}", resource="app")


def _no_user(ident: str) -> NotFound:
    return NotFound(
        f"Couldn't find that user: no user named {ident} (see `empire users list` on the server)",
        resource="user",
    )


def _no_team(ident: str) -> NotFound:
    return NotFound(f"Couldn't find that team: no team named {ident}", resource="team")


def _no_grant(subject: str, app: App) -> NotFound:
    return NotFound(
        f"Couldn't find that collaborator: {subject} has no access to {app.name} "
        f"(see emp access -a {app.name})",
        resource="collaborator",
    )


def _matching(grants: list[Grant], subject: str) -> Grant | None:
    """The grant of `subject`: a user by name, e-mail address or id, or `team:NAME`."""
    if subject.startswith(TEAM_PREFIX):
        name = subject.removeprefix(TEAM_PREFIX)
        return next((g for g in grants if g.team and name in (g.team.name, g.team.id)), None)
    for key in ("name", "email", "id"):  # a name wins over someone else's e-mail address
        for grant in grants:
            if grant.user is not None and getattr(grant.user, key) == subject:
                return grant
    return None


def _label(grant: Grant) -> str:
    return f"team {grant.team.name}" if grant.team else grant.subject
