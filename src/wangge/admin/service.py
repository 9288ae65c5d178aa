"""Named actions of delegated administration.

An administrator (permission ``admin:users``) manages accounts only inside their own scope and
grants only roles they hold themselves: a county administrator holding admin and commander may
grant ``commander@<a township of the county>`` but not ``analyst`` (not held) and nothing in
another county (404: its existence is not revealed). See docs/decisions/0010.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.admin.repository import AccountRepository
from wangge.admin.schemas import AccountCreate, AccountOut, AccountPage, AccountPostOut, PostGrant
from wangge.auth.service import auth_service
from wangge.authz.permissions import ADMIN_USERS, ROLE_PERMISSIONS
from wangge.authz.scope import Subject
from wangge.kit import bus
from wangge.kit.actions import record
from wangge.kit.bus import Event
from wangge.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from wangge.kit.web import subject_cache
from wangge.models import Account, Organisation, Person, Post
from wangge.models.post import ROLES
from wangge.models.region import CODE_LENGTHS

REGION_CODE = re.compile(r"^\d+$")
ORGANISATION_CODE = re.compile(r"^[A-Z]{2}[0-9A-Za-z\-]+$")
REGION_LENGTHS = set(CODE_LENGTHS.values())
MAX_PAGE = 200


@dataclass(frozen=True)
class PostSpec:
    """A parsed ``ROLE@CODE``: the region the post sits at, and its organisation if any."""

    role: str
    code: str
    region_code: str
    organisation: Organisation | None
    reach: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.role}@{self.code}"


def parse_post(text: str, field: str = "posts") -> tuple[str, str]:
    """Splits ``ROLE@CODE`` and checks its form (422 naming ``field`` otherwise)."""
    role, sep, code = text.strip().partition("@")
    if not sep or not role or not code:
        raise InvalidInput(field, f"{text!r} is not ROLE@CODE")
    if role not in ROLES:
        raise InvalidInput(field, f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if REGION_CODE.match(code):
        if len(code) not in REGION_LENGTHS:
            raise InvalidInput(field, f"{code!r} is not a region code (2, 4, 6, 9, 12 or 15 "
                               "digits)")
    elif not ORGANISATION_CODE.match(code):
        raise InvalidInput(field, f"{code!r} is neither a region code nor an organisation code")
    return role, code


def _post_out(post: Post, org: Organisation | None) -> AccountPostOut:
    code = org.code if org is not None else post.region_code
    return AccountPostOut(id=post.id, post=f"{post.role}@{code}", role=post.role,
                          region_code=post.region_code,
                          organisation_code=org.code if org else None, title=post.title)


class AdminService:
    def _held_roles(self, subject: Subject) -> set[str]:
        return {p.role for p in subject.posts}

    def _admin_post(self, subject: Subject, region_code: str) -> str | None:
        """The administrator post the action is taken under (the nearest one covering it)."""
        posts = [p for p in subject.posts if ADMIN_USERS in ROLE_PERMISSIONS.get(p.role, ())]
        covering = [p for p in posts if region_code.startswith(p.region_code)]
        best = max(covering or posts, key=lambda p: len(p.region_code), default=None)
        return str(best) if best else None

    async def _resolve(self, repo: AccountRepository, subject: Subject, text: str,
                       field: str) -> PostSpec:
        """Parses a post and checks the caller may grant it: role held (403), target in scope
        (404)."""
        role, code = parse_post(text, field)
        if not subject.is_system and role not in self._held_roles(subject):
            raise Forbidden(f"you can only grant roles you hold; you do not hold {role!r}",
                            role=role)
        if REGION_CODE.match(code):
            if await repo.region(code) is None:
                raise NotFound(f"region {code} not found", code=code)
            return PostSpec(role, code, code, None, (code,))
        found = await repo.organisation(code)
        # An organisation reaching regions outside scope would grant more than the caller has.
        if found is None or not all(subject.can_read_code(c) for c in found[1]):
            raise NotFound(f"organisation {code} not found", code=code)
        org, covered = found
        return PostSpec(role, code, org.region_code, org, tuple(covered) or (org.region_code,))

    async def _manageable(self, repo: AccountRepository, subject: Subject,
                          account_id: int) -> tuple[Account, Person]:
        """An account the caller may change: visible (else 404), every post in scope, not
        their own (else 403)."""
        found = await repo.get(account_id)
        if found is None:
            raise NotFound(f"account {account_id} not found", account_id=account_id)
        account, person = found
        if subject.account_id is not None and account.id == subject.account_id:
            raise Forbidden("administrators cannot change their own account")
        _, outside = await repo.post_counts(person.id)
        if outside:
            raise Forbidden("the account also holds posts outside your scope")
        return account, person

    async def _out(self, repo: AccountRepository, account: Account, person: Person
                   ) -> AccountOut:
        posts = (await repo.posts_in_scope([person.id])).get(person.id, [])
        return self._account_out(account, person, posts)

    def _account_out(self, account: Account, person: Person,
                     posts: list[tuple[Post, Organisation | None]]) -> AccountOut:
        return AccountOut(
            id=account.id, username=account.username, is_active=account.is_active,
            person_id=person.id, person_name=person.name, staff_no=person.staff_no,
            created_at=account.created_at, posts=[_post_out(p, o) for p, o in posts],
        )

    async def list(self, session: AsyncSession, subject: Subject, *, after: int | None = None,
                   limit: int = 50) -> AccountPage:
        """Lists accounts holding a post in the caller's scope, by id (keyset pagination)."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")
        repo = AccountRepository(session, subject)
        rows = await repo.page(after, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        posts = await repo.posts_in_scope([p.id for _, p in rows])
        items = [self._account_out(a, p, posts.get(p.id, [])) for a, p in rows]
        return AccountPage(items=items, next_cursor=items[-1].id if more and items else None)

    async def get(self, session: AsyncSession, subject: Subject, account_id: int) -> AccountOut:
        """Gets an account holding a post in the caller's scope."""
        repo = AccountRepository(session, subject)
        found = await repo.get(account_id)
        if found is None:
            raise NotFound(f"account {account_id} not found", account_id=account_id)
        return await self._out(repo, *found)

    async def create_account(self, session: AsyncSession, subject: Subject,
                             data: AccountCreate) -> AccountOut:
        """Creates an account (and the staff person if new) with posts inside the caller's
        scope; the account itself is made by ``auth_service.create_account``."""
        repo = AccountRepository(session, subject)
        specs = [await self._resolve(repo, subject, text, "posts") for text in data.posts]
        person_id = await repo.person_id_by_staff_no(data.staff_no)
        if person_id is None:
            if not data.name:
                raise InvalidInput("name", "required for a new staff person")
        else:
            inside, outside = await repo.post_counts(person_id)
            if outside and not inside:
                raise NotFound(f"staff person {data.staff_no} not found", field="staff_no")
            if outside:
                raise Forbidden("the staff person also holds posts outside your scope")
            if await repo.person_has_account(person_id):
                raise Conflict(f"staff person {data.staff_no} already has an account",
                               field="staff_no")
        account = await auth_service.create_account(
            session, subject, data.username, data.password, posts=[str(s) for s in specs],
            person_name=data.name, staff_no=data.staff_no,
        )
        await bus.queue(session, Event("account.created", specs[0].region_code, ADMIN_USERS,
                                       {"account_id": account.id, "username": account.username}))
        person = await session.get_one(Person, account.person_id)
        return await self._out(repo, account, person)

    async def _add_post(self, repo: AccountRepository, person: Person, spec: PostSpec,
                        title: str | None = None) -> tuple[Post, Organisation | None]:
        org_id = spec.organisation.id if spec.organisation else None
        if await repo.post_exists(person.id, spec.role, spec.region_code, org_id):
            raise Conflict(f"the person already holds {spec}", field="posts")
        post = Post(person_id=person.id, role=spec.role, region_code=spec.region_code,
                    organisation_id=org_id, title=title)
        repo.session.add(post)
        subject_cache.clear()
        await repo.session.flush()
        return post, spec.organisation

    async def grant_post(self, session: AsyncSession, subject: Subject, account_id: int,
                         data: PostGrant) -> AccountOut:
        """Grants a post (a role held by the caller, at a region in their scope)."""
        repo = AccountRepository(session, subject)
        account, person = await self._manageable(repo, subject, account_id)
        spec = await self._resolve(repo, subject, data.post, "post")
        post, _ = await self._add_post(repo, person, spec, data.title)
        await record(
            session, subject, "account.grant_post", target_type="account", target_id=account.id,
            region_code=spec.region_code, post=self._admin_post(subject, spec.region_code),
            changes={"post": (None, str(spec))},
            events=[Event("account.post_granted", spec.region_code, ADMIN_USERS,
                          {"account_id": account.id, "post_id": post.id, "post": str(spec)})],
        )
        return await self._out(repo, account, person)

    async def remove_post(self, session: AsyncSession, subject: Subject, account_id: int,
                          post_id: int) -> AccountOut:
        """Removes one of an account's posts (not its last: revoke the account instead)."""
        repo = AccountRepository(session, subject)
        account, person = await self._manageable(repo, subject, account_id)
        post = await repo.post_of(person.id, post_id)
        if post is None:
            raise NotFound(f"post {post_id} not found", post_id=post_id)
        inside, _ = await repo.post_counts(person.id)
        if inside <= 1:
            raise Conflict("this is the account's last post; revoke the account instead")
        spec = f"{post.role}@{post.region_code}"
        region = post.region_code
        await session.delete(post)
        subject_cache.clear()
        await session.flush()
        await record(
            session, subject, "account.remove_post", target_type="account",
            target_id=account.id, region_code=region, post=self._admin_post(subject, region),
            changes={"post": (spec, None)},
            events=[Event("account.post_removed", region, ADMIN_USERS,
                          {"account_id": account.id, "post_id": post_id})],
        )
        return await self._out(repo, account, person)

    async def revoke(self, session: AsyncSession, subject: Subject, account_id: int
                     ) -> AccountOut:
        """Deactivates an account and revokes all its sessions (``auth_service.revoke_account``)."""
        repo = AccountRepository(session, subject)
        account, person = await self._manageable(repo, subject, account_id)
        await auth_service.revoke_account(session, subject, account.username)
        posts = (await repo.posts_in_scope([person.id])).get(person.id, [])
        if posts:
            await bus.queue(session, Event("account.revoked", posts[0][0].region_code,
                                           ADMIN_USERS, {"account_id": account.id}))
        return self._account_out(account, person, posts)


admin_service = AdminService()
