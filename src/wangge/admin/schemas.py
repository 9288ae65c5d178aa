"""API shapes of delegated administration."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class AccountCreate(BaseModel):
    """A new account for a staff person; the person is created when the staff number is new."""

    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=8, max_length=128)
    staff_no: str = Field(min_length=1, max_length=32, description="工号; an existing person's "
                          "number links the account to them")
    name: str | None = Field(None, min_length=1, max_length=50,
                             description="The person's name (required for a new person)")
    posts: list[str] = Field(min_length=1, description="Posts to grant, as ROLE@CODE")


class PostGrant(BaseModel):
    post: str = Field(description="ROLE@CODE: a region code, or an organisation's code")
    title: str | None = Field(None, max_length=50)


class AccountPostOut(BaseModel):
    id: int
    post: str = Field(description="ROLE@CODE")
    role: str
    region_code: str
    organisation_code: str | None
    title: str | None


class AccountOut(BaseModel):
    id: int
    username: str
    is_active: bool
    person_id: int
    person_name: str
    staff_no: str
    created_at: datetime
    posts: list[AccountPostOut] = Field(description="The posts inside the caller's scope")


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: int | None = Field(description="Pass as ?after= for the next page; None at "
                                    "the end")
