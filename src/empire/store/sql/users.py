"""The store's user and token queries: a mixin of `SqlTransaction`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from empire.errors import Conflict
from empire.model import Token, User
from empire.store import tables as t
from empire.store.sql.rows import as_utc, user_from_row, utc_or_none


class UserQueries:
    """Users, their passwords and their API tokens, on the transaction's connection."""

    conn: Connection

    # -- users and tokens ---------------------------------------------------------------------

    def user(self, name: str) -> User | None:
        row = self.conn.execute(select(t.users).where(t.users.c.name == name)).first()
        return user_from_row(row._mapping) if row else None

    def users(self) -> list[User]:
        rows = self.conn.execute(select(t.users).order_by(t.users.c.name))
        return [user_from_row(row._mapping) for row in rows]

    def insert_user(self, user: User, created_at: datetime) -> None:
        try:
            with self.conn.begin_nested():
                self.conn.execute(
                    t.users.insert().values(
                        id=user.id,
                        name=user.name,
                        email=user.email,
                        admin=user.admin,
                        created_at=created_at,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"user {user.name} already exists") from exc

    def insert_token(self, token: Token, token_hash: str) -> None:
        self.conn.execute(
            t.tokens.insert().values(
                id=token.id,
                user_id=token.user.id,
                token_hash=token_hash,
                description=token.description,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    def password_hash(self, name: str) -> tuple[User, str | None] | None:
        live = t.users.c.disabled.is_(False)
        row = self.conn.execute(select(t.users).where(t.users.c.name == name, live)).first()
        return (user_from_row(row._mapping), row._mapping["password_hash"]) if row else None

    def set_password(self, user_id: str, password_hash: str) -> None:
        self.conn.execute(
            t.users.update().where(t.users.c.id == user_id).values(password_hash=password_hash)
        )

    def disable_user(self, user_id: str) -> None:
        self.conn.execute(t.users.update().where(t.users.c.id == user_id).values(disabled=True))

    def tokens(self, user: User) -> list[Token]:
        query = (
            select(t.tokens)
            .where(t.tokens.c.user_id == user.id, t.tokens.c.revoked_at.is_(None))
            .order_by(t.tokens.c.created_at, t.tokens.c.id)
        )
        return [
            Token(
                id=m["id"],
                user=user,
                description=m["description"],
                created_at=as_utc(m["created_at"]),
                expires_at=utc_or_none(m["expires_at"]),
            )
            for m in (row._mapping for row in self.conn.execute(query))
        ]

    def revoke_token(self, user_id: str, token_id: str, at: datetime) -> bool:
        result = self.conn.execute(
            t.tokens.update()
            .where(
                t.tokens.c.id == token_id,
                t.tokens.c.user_id == user_id,
                t.tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=at)
        )
        return bool(result.rowcount)

    def token(self, token_hash: str) -> Token | None:
        query = (
            select(
                t.users,
                t.tokens.c.id.label("token_id"),
                t.tokens.c.description,
                t.tokens.c.created_at.label("token_created_at"),
                t.tokens.c.expires_at,
            )
            .join(t.tokens, t.tokens.c.user_id == t.users.c.id)
            .where(
                t.tokens.c.token_hash == token_hash,
                t.tokens.c.revoked_at.is_(None),
                t.users.c.disabled.is_(False),
            )
        )
        row = self.conn.execute(query).first()
        if row is None:
            return None
        m = row._mapping
        return Token(
            id=m["token_id"],
            user=user_from_row(m),
            description=m["description"],
            created_at=as_utc(m["token_created_at"]),
            expires_at=utc_or_none(m["expires_at"]),
        )
