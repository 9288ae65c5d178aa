"""Account and session actions: create, log in, log out (here or everywhere), revoke.

Every change is audited through ``kit.actions.record``. Services never commit; note that a
failed log-in raises after recording the attempt, so callers that want the attempt kept (the
log-in endpoint and page) commit before re-raising.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth import throttle
from wangge.auth.passwords import dummy_hash, hash_password, needs_rehash, verify_password
from wangge.auth.repository import AuthRepository
from wangge.auth.tokens import new_token, token_hash
from wangge.authz.permissions import ADMIN_USERS
from wangge.authz.scope import Subject
from wangge.config import Settings, get_settings
from wangge.kit.actions import record
from wangge.kit.db import utcnow
from wangge.kit.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from wangge.kit.web import subject_cache
from wangge.models import Account, AuthSession, Person, Post
from wangge.models.post import ROLES

# Same words for an unknown name, a wrong password and an inactive account: never say which.
LOGIN_FAILED = "wrong user name or password"
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
MIN_PASSWORD = 8
KINDS = ("bearer", "cookie")


class LoginFailed(Unauthorized):
    """A rejected log-in; the attempt has been recorded (commit before re-raising)."""

    code = "login_failed"


@dataclass(frozen=True)
class PostSpec:
    """A parsed ``ROLE@CODE``: a region post, or a post in an organisation."""

    role: str
    code: str
    region_code: str
    organisation_id: int | None = None

    def __str__(self) -> str:
        return f"{self.role}@{self.code}"


class AuthService:
    def _settings(self) -> Settings:
        return get_settings()

    async def parse_posts(self, session: AsyncSession, posts: list[str]) -> list[PostSpec]:
        """Parses ``ROLE@CODE`` posts; an unknown role or code is an InvalidInput on ``posts``."""
        repo = AuthRepository(session)
        out: list[PostSpec] = []
        for raw in posts:
            role, sep, code = raw.strip().partition("@")
            if not sep or not role or not code:
                raise InvalidInput("posts", f"{raw!r} is not ROLE@CODE")
            if role not in ROLES:
                raise InvalidInput("posts", f"unknown role {role!r} (one of {', '.join(ROLES)})")
            if code.isdigit():
                if not await repo.region_exists(code):
                    raise InvalidInput("posts", f"no region with code {code}")
                spec = PostSpec(role, code, code)
            else:
                org = await repo.organisation_by_code(code)
                if org is None:
                    raise InvalidInput("posts", f"no region or organisation with code {code}")
                spec = PostSpec(role, code, org.region_code, org.id)
            if spec not in out:
                out.append(spec)
        return out

    def check_grant(self, actor: Subject, specs: list[PostSpec]) -> None:
        """Delegated administration: only inside the actor's subtree and only roles it holds."""
        if actor.is_system:
            return
        if not actor.can(ADMIN_USERS):
            raise Forbidden(f"permission {ADMIN_USERS} required", permission=ADMIN_USERS)
        held = {p.role for p in actor.posts}
        for spec in specs:
            if not actor.can_read_code(spec.region_code):
                raise Forbidden(f"post {spec} lies outside your regions", field="posts")
            if spec.role not in held:
                raise Forbidden(f"you may grant only roles you hold, not {spec.role}",
                                field="posts")

    async def create_account(
        self, session: AsyncSession, actor: Subject, username: str, password: str,
        posts: list[str] | None = None, person_name: str | None = None,
        staff_no: str | None = None,
    ) -> Account:
        """Creates an account, its staff person if needed, and the person's posts.

        ``staff_no`` links the account to an existing person (whose posts it then acts in);
        without it a person ``U-<username>`` is created.
        """
        if not USERNAME_RE.match(username or ""):
            raise InvalidInput("username", "2-64 letters, digits or _.@- , starting with a letter "
                               "or digit")
        if len(password or "") < MIN_PASSWORD:
            raise InvalidInput("password", f"at least {MIN_PASSWORD} characters")
        specs = await self.parse_posts(session, posts or [])
        self.check_grant(actor, specs)
        repo = AuthRepository(session)
        if await repo.account_by_username(username) is not None:
            raise InvalidInput("username", f"{username} is taken")
        number = staff_no or f"U-{username}"
        person = await repo.person_by_staff_no(number)
        if person is None:
            person = Person(staff_no=number, name=(person_name or username)[:50])
            session.add(person)
            await session.flush()
        held = {(p.role, p.region_code, p.organisation_id)
                for p, _ in await repo.posts_of(person.id)}
        for spec in specs:
            if (spec.role, spec.region_code, spec.organisation_id) not in held:
                session.add(Post(person_id=person.id, role=spec.role,
                                 region_code=spec.region_code,
                                 organisation_id=spec.organisation_id))
        account = Account(username=username, person_id=person.id,
                          password_hash=hash_password(password), is_active=True, failed_logins=0)
        session.add(account)
        await session.flush()
        await record(
            session, actor, "account.create", target_type="account", target_id=account.id,
            region_code=specs[0].region_code if specs else None,
            changes={"username": (None, username), "person_id": (None, person.id),
                     "posts": (None, [str(s) for s in specs])},
        )
        return account

    async def login(
        self, session: AsyncSession, username: str, password: str, client_addr: str | None,
        kind: str = "bearer",
    ) -> tuple[str, AuthSession]:
        """Checks the password and opens a session; returns the secret token and the session.

        Raises ``TooManyRequests`` (throttled, nothing recorded) or ``LoginFailed`` (recorded).
        """
        if kind not in KINDS:
            raise InvalidInput("kind", f"one of {', '.join(KINDS)}")
        settings = self._settings()
        addr = client_addr or "unknown"
        now = utcnow()
        username = (username or "").strip()
        verdict = await throttle.check(session, settings, username, addr, now)
        repo = AuthRepository(session)
        account = await repo.account_by_username(username) if username else None
        if account is not None and account.locked_until is not None \
                and account.locked_until > now:
            verdict = max(verdict, throttle.locked(account.locked_until, now),
                          key=lambda v: v.retry_after)
        if not verdict.allowed:
            if account is not None and verdict.locked_until is not None:
                account.locked_until = verdict.locked_until
            raise throttle.refuse(verdict)
        # Verify against a dummy hash for unknown names so the time taken does not tell.
        ok = verify_password(account.password_hash if account else dummy_hash(), password or "")
        ok = ok and account is not None and account.is_active
        session.add(throttle.attempt(username, addr, ok, now))
        if not ok or account is None:
            await self._failed(session, settings, account, username, addr, now)
            raise LoginFailed(LOGIN_FAILED)
        if needs_rehash(account.password_hash):
            account.password_hash = hash_password(password)
        account.failed_logins = 0
        account.locked_until = None
        hours = settings.bearer_hours if kind == "bearer" else settings.cookie_hours
        token = new_token()
        auth_session = AuthSession(
            token_hash=token_hash(token), account_id=account.id, kind=kind,
            csrf_token=new_token() if kind == "cookie" else None, client_addr=addr[:64],
            created_at=now, expires_at=now + timedelta(hours=hours),
        )
        session.add(auth_session)
        await session.flush()
        who = Subject(name=account.username, account_id=account.id,
                      person_id=account.person_id, client_addr=addr)
        await record(session, who, "auth.login", target_type="account", target_id=account.id,
                     region_code=await self._home_region(session, account),
                     changes={"session": (None, f"{kind}#{auth_session.id}")})
        return token, auth_session

    async def _failed(self, session: AsyncSession, settings: Settings, account: Account | None,
                      username: str, addr: str, now: datetime) -> None:
        if account is not None:
            # Informational: locking is decided by name and address (throttle), the same for
            # names that exist and names that do not.
            account.failed_logins = (account.failed_logins or 0) + 1
        who = Subject(name=username[:64] or "?", client_addr=addr)
        await record(session, who, "auth.login_failed", target_type="account",
                     target_id=account.id if account else username[:64],
                     region_code=await self._home_region(session, account) if account else None)

    async def _home_region(self, session: AsyncSession, account: Account) -> str | None:
        """The account's highest post region, so that its administrators see its log-ins."""
        held = await AuthRepository(session).posts_of(account.person_id)
        codes = sorted((p.region_code for p, _ in held), key=lambda c: (len(c), c))
        return codes[0] if codes else None

    async def logout(self, session: AsyncSession, subject: Subject, session_id: int) -> None:
        """Revokes the caller's current session."""
        repo = AuthRepository(session)
        current = await repo.session_by_id(session_id)
        if current is None or current.account_id != subject.account_id:
            raise NotFound("session not found")
        if current.revoked_at is None:
            current.revoked_at = utcnow()
            subject_cache.clear()
            await record(session, subject, "auth.logout", target_type="auth_session",
                         target_id=current.id, changes={"revoked": (False, True)})

    async def logout_everywhere(self, session: AsyncSession, subject: Subject) -> int:
        """Revokes every live session of the caller's account; returns how many."""
        if subject.account_id is None:
            raise Unauthorized("log in first")
        n = await self._revoke_sessions(session, subject.account_id)
        await record(session, subject, "auth.logout_everywhere", target_type="account",
                     target_id=subject.account_id, changes={"sessions_revoked": (0, n)})
        return n

    async def _revoke_sessions(self, session: AsyncSession, account_id: int) -> int:
        now = utcnow()
        live = await AuthRepository(session).live_sessions_of(account_id, now)
        for s in live:
            s.revoked_at = now
        subject_cache.clear()
        await session.flush()
        return len(live)

    async def _managed(self, session: AsyncSession, actor: Subject, username: str) -> Account:
        """The account ``actor`` may administer: all its posts inside the actor's scope."""
        repo = AuthRepository(session)
        account = await repo.account_by_username(username)
        if actor.is_system:
            if account is None:
                raise NotFound(f"no account {username}", field="username")
            return account
        if not actor.can(ADMIN_USERS):
            raise Forbidden(f"permission {ADMIN_USERS} required", permission=ADMIN_USERS)
        posts = await repo.posts_of(account.person_id) if account else []
        # An account without posts, or with one outside the actor's regions, is not the actor's
        # to manage; answer as if it did not exist.
        if account is None or not posts or not all(
            actor.can_read_code(p.region_code) for p, _ in posts
        ):
            raise NotFound(f"no account {username}", field="username")
        return account

    async def revoke_sessions(self, session: AsyncSession, actor: Subject, username: str) -> int:
        """An administrator ends every session of another account; returns how many."""
        account = await self._managed(session, actor, username)
        n = await self._revoke_sessions(session, account.id)
        await record(session, actor, "auth.sessions_revoke", target_type="account",
                     target_id=account.id, changes={"sessions_revoked": (0, n)})
        return n

    async def revoke_account(self, session: AsyncSession, actor: Subject, username: str) -> int:
        """Deactivates an account and ends its sessions; returns the sessions ended."""
        account = await self._managed(session, actor, username)
        was_active = account.is_active
        account.is_active = False
        subject_cache.clear()
        n = await self._revoke_sessions(session, account.id)
        await record(session, actor, "account.revoke", target_type="account",
                     target_id=account.id,
                     changes={"is_active": (was_active, False), "sessions_revoked": (0, n)})
        return n


auth_service = AuthService()
