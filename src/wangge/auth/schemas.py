"""Pydantic shapes of the auth API."""

from __future__ import annotations

from pydantic import BaseModel


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int  # seconds


class AccountRef(BaseModel):
    id: int
    username: str


class PersonRef(BaseModel):
    id: int
    name: str
    staff_no: str


class PostOut(BaseModel):
    role: str
    code: str  # the region code, or the organisation's code for a department post
    region_code: str


class MeOut(BaseModel):
    account: AccountRef
    person: PersonRef | None
    posts: list[PostOut]
    permissions: list[str]
    scope: list[str]  # region-code prefixes the caller may read


class LogoutOut(BaseModel):
    revoked: int
