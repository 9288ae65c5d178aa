"""From an account to a ``Subject``: scope = union of its posts' subtrees, permissions by role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any, NamedTuple, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth.repository import AuthRepository
from wangge.authz.permissions import CASE_POLICE, permissions_of
from wangge.authz.scope import PostRef, Subject
from wangge.kit.web import SessionFacts
from wangge.models import Account

DEPARTMENT_ROLE = "department_officer"
POLICE_KINDS = ("police_bureau", "police_station")


def minimal_prefixes(codes: set[str]) -> tuple[str, ...]:
    """Drops codes already covered by a shorter prefix in the set."""
    out: list[str] = []
    for code in sorted(codes, key=lambda c: (len(c), c)):
        if not any(code.startswith(p) for p in out):
            out.append(code)
    return tuple(sorted(out))


async def subject_for(
    session: AsyncSession, account: Account, client_addr: str | None = None
) -> Subject:
    """The subject an account acts as. No post, no data: an account without posts sees nothing.

    A department post (``department_officer@ORG``) reaches the regions its organisation covers
    (a police station's townships), or the organisation's home region when it covers none. Any
    other post reaches its own region's subtree, even when held inside an organisation (a police
    officer's deputy-grid-leader post reaches that grid only).
    """
    repo = AuthRepository(session)
    held = await repo.posts_of(account.person_id)
    coverage = await repo.coverage([o.id for _, o in held if o is not None])
    return subject_from_posts(account.username, held, coverage, account_id=account.id,
                              person_id=account.person_id, client_addr=client_addr)


class HeldPost(Protocol):
    """What the subject rules read of a post (a ``Post`` row or a ``PostFacts``)."""

    @property
    def role(self) -> str: ...

    @property
    def region_code(self) -> str: ...


class HeldOrganisation(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def code(self) -> str: ...

    @property
    def kind(self) -> str: ...


class PostFacts(NamedTuple):
    role: str
    region_code: str


class OrganisationFacts(NamedTuple):
    id: int
    code: str
    kind: str


def subject_from_token_rows(rows: Sequence[Any], client_addr: str | None = None
                            ) -> tuple[SessionFacts, Subject] | None:
    """The live session and the subject its account acts as, from ``LIVE_SUBJECT``'s rows
    (``subject_for``'s rules). None when there is no such live session (no rows)."""
    if not rows:
        return None
    first = rows[0]
    held: dict[tuple[str, str, int | None], tuple[PostFacts, OrganisationFacts | None]] = {}
    coverage: dict[int, list[str]] = {}
    for *_, role, region, org_id, org_code, org_kind, covered in rows:
        if role is None:
            continue  # an account without posts
        org = OrganisationFacts(org_id, org_code, org_kind) if org_id is not None else None
        held.setdefault((role, region, org_id), (PostFacts(role, region), org))
        if org_id is not None and covered is not None:
            regions = coverage.setdefault(org_id, [])
            if covered not in regions:
                regions.append(covered)
    subject = subject_from_posts(first[5], list(held.values()), coverage, account_id=first[4],
                                 person_id=first[6], client_addr=client_addr)
    expires_at = first[3] if first[3].tzinfo is not None else first[3].replace(tzinfo=UTC)
    return SessionFacts(first[0], first[1], first[2], expires_at.astimezone(UTC)), subject


def subject_from_posts(
    name: str, held: Sequence[tuple[HeldPost, HeldOrganisation | None]],
    coverage: Mapping[int, Sequence[str]], *, account_id: int | None = None,
    person_id: int | None = None, client_addr: str | None = None,
) -> Subject:
    """The subject of someone holding ``held`` posts (``coverage``: organisation id → the
    regions it covers). The rules are subject_for's; the demo generator uses them for staff
    without an account."""
    codes: set[str] = set()
    posts: list[PostRef] = []
    extra: set[str] = set()
    for post, org in held:
        if org is not None and org.kind in POLICE_KINDS:
            extra.add(CASE_POLICE)
        if org is not None and post.role == DEPARTMENT_ROLE:
            codes.update(coverage.get(org.id) or [post.region_code])
            posts.append(PostRef(post.role, org.code, post.region_code))
        else:
            codes.add(post.region_code)
            posts.append(PostRef(post.role, post.region_code, post.region_code))
    return Subject(
        name=name, prefixes=minimal_prefixes(codes),
        permissions=permissions_of([p.role for p in posts]) | extra, posts=tuple(posts),
        account_id=account_id, person_id=person_id, client_addr=client_addr,
    )
