"""From an account to a ``Subject``: scope = union of its posts' subtrees, permissions by role."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from wangge.auth.repository import AuthRepository
from wangge.authz.permissions import CASE_POLICE, permissions_of
from wangge.authz.scope import PostRef, Subject
from wangge.models import Account, Organisation, Post

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


def subject_from_posts(
    name: str, held: Sequence[tuple[Post, Organisation | None]],
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
