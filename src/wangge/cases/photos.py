"""Photo uploads: size-limited, type sniffed from the bytes (not the name or the header the
client sends), stored content-addressed under ``WANGGE_PHOTO_DIR``.

A photo is uploaded first (``POST /api/v1/photos``: phones upload while the report is being
written, and retry safely) and attached by id when the case or action is submitted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import filetype
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession

from wangge.authz.scope import Subject
from wangge.cases.repository import CaseRepository
from wangge.cases.schemas import PhotoOut
from wangge.kit.actions import record
from wangge.kit.errors import InvalidInput, NotFound, PayloadTooLarge
from wangge.models import CasePhoto

ALLOWED_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp",
                 "image/heic": "heic"}
CHUNK = 64 * 1024


class PhotoService:
    async def upload(self, session: AsyncSession, subject: Subject, file: UploadFile,
                     directory: Path, max_bytes: int) -> PhotoOut:
        """Stores an uploaded photo (413 over ``max_bytes``, 422 when it is not an image)."""
        digest = hashlib.sha256()
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=".upload-")
        tmp = Path(tmp_name)
        size = 0
        head = b""
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await file.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"file: larger than {max_bytes:,} bytes",
                                              field="file", limit=max_bytes)
                    if len(head) < 512:
                        head += chunk[: 512 - len(head)]
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise InvalidInput("file", "empty upload")
            kind = filetype.guess(head)
            if kind is None or kind.mime not in ALLOWED_TYPES:
                found = kind.mime if kind else "unknown content"
                raise InvalidInput("file", f"not a photo ({found}); send JPEG, PNG, WebP or "
                                   "HEIC")
            sha = digest.hexdigest()
            relative = f"{sha[:2]}/{sha}.{ALLOWED_TYPES[kind.mime]}"
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        photo = CasePhoto(sha256=sha, content_type=kind.mime, size=size, path=relative,
                          uploaded_by=subject.account_id)
        session.add(photo)
        await session.flush()
        await record(session, subject, "photo.uploaded", target_type="photo",
                     target_id=photo.id, changes={"sha256": (None, sha), "size": (None, size)})
        return PhotoOut(id=photo.id, sha256=sha, content_type=kind.mime, size=size)

    async def open(self, session: AsyncSession, subject: Subject, photo_id: int,
                   directory: Path) -> tuple[Path, str]:
        """The file of a photo the caller uploaded or may see through its case."""
        photo = await CaseRepository(session, subject).photo(photo_id)
        path = directory / photo.path if photo else None
        if photo is None or path is None or not path.is_file():
            raise NotFound(f"photo {photo_id} not found", photo_id=photo_id)
        return path, photo.content_type


photo_service = PhotoService()
