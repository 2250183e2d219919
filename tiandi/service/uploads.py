"""Receiving a returned field package over HTTP: streamed, bounded, typed, safely named.

:func:`receive_package` reads a ``multipart/form-data`` body as it arrives and stops at
the size limit (413, before the rest is read); the part ``package`` must be a GeoPackage
(SQLite header and the ``GPKG`` application id, else 415) and every file name must be a
plain relative name (``photos`` parts may keep a folder such as ``DCIM/IMG_1.jpg``;
``../x``, absolute paths, drive letters and control characters are refused with 422). The
files land in a fresh folder of the caller's; when anything is refused that folder is
removed, so a refused upload writes nothing.
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fastapi import Request
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from tiandi.errors import UploadError

_SQLITE_MAGIC = b"SQLite format 3\x00"
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_SAFE_PART = re.compile(r"^[\w\-. ()\u4e00-\u9fff]{1,128}$")
_CHUNK = 1 << 20
#: The multipart body this endpoint reads (for the OpenAPI description).
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["package"],
                    "properties": {
                        "package": {
                            "type": "string",
                            "format": "binary",
                            "description": "The returned .gpkg (as edited in the field app).",
                        },
                        "photos": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "The crew's photos, named as the package refers to "
                            "them (e.g. DCIM/IMG_0001.jpg).",
                        },
                    },
                }
            }
        },
    }
}


@dataclass(frozen=True)
class Received:
    """An upload written to ``folder``: the package file and the photos beside it."""

    folder: Path
    package: Path
    photos: tuple[Path, ...]
    size: int


def safe_name(name: str | None, *, folders: bool = False) -> PurePosixPath:
    """``name`` as a safe relative path (one component unless ``folders``); ``UploadError``
    (422) naming it otherwise. Nothing is sanitised silently: the crew learns what to fix."""
    text = (name or "").replace("\\", "/")
    pure = PurePosixPath(text)
    parts = pure.parts
    bad = (
        not parts
        or pure.is_absolute()
        or any(p in ("..", ".") or not _SAFE_PART.match(p) or p.startswith(".") for p in parts)
        or (len(parts) > 1 and not folders)
        or len(parts) > 4
    )
    if bad:
        raise UploadError(
            f"file name {name!r} is not a safe file name: send the package as a plain name "
            "such as 'ST-01.gpkg' and photos as 'DCIM/IMG_0001.jpg' (letters, digits, - _ . "
            "and at most 3 folders; no '..', no absolute path)",
            code="unsafe_file_name",
        )
    return pure


def check_geopackage(path: Path, shown: str) -> None:
    """``UploadError`` (415) unless ``path`` starts like a GeoPackage."""
    with path.open("rb") as handle:
        head = handle.read(100)
    app_id = struct.unpack(">I", head[68:72])[0] if len(head) >= 72 else 0
    if not head.startswith(_SQLITE_MAGIC) or app_id != _GPKG_APPLICATION_ID:
        raise UploadError(
            f"uploaded file {shown!r} is not a GeoPackage (no SQLite header with the GPKG "
            "application id); send the .gpkg of the field package as the field app left it",
            status=415,
            code="not_a_geopackage",
        )


def _too_big(limit: int, seen: int) -> UploadError:
    return UploadError(
        f"the upload is {'at least ' if seen else ''}{seen / 1e6:.1f} MB, more than the "
        f"limit of {limit / 1e6:.1f} MB (TIANDI_FIELD_UPLOAD_MAX_MB); nothing was kept. "
        "Send only the package's .gpkg and its photos",
        status=413,
        code="too_large",
    )


async def _limited(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise _too_big(limit, seen)
        yield chunk


async def _copy(upload: UploadFile, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with target.open("xb") as out:
        while chunk := await upload.read(_CHUNK):
            out.write(chunk)
            size += len(chunk)
    return size


async def receive_package(request: Request, folder: Path, limit: int) -> Received:
    """Stream the multipart body of ``request`` into ``folder`` (created here, removed on
    any refusal) and check it; see the module docstring for what is refused."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_big(limit, int(declared))
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UploadError(
            "send the package as multipart/form-data with a file part 'package' "
            "(e.g. curl -F package=@ST-01.gpkg -F photos=@DCIM/IMG_1.jpg;filename=DCIM/IMG_1.jpg)",
            status=415,
            code="not_multipart",
        )
    folder.mkdir(parents=True, exist_ok=False)
    try:
        return await _receive(request, folder, limit)
    except BaseException:
        discard(folder)
        raise


def discard(folder: Path) -> None:
    """Remove an upload's ``folder`` and its parent folders left empty (two levels)."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in (folder.parent, folder.parent.parent):
        try:
            parent.rmdir()
        except OSError:
            break


async def _receive(request: Request, folder: Path, limit: int) -> Received:
    parser = MultiPartParser(request.headers, _limited(request, limit), max_files=500)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise UploadError(f"the multipart body cannot be read: {exc}") from None
    try:
        packages = [p for p in form.getlist("package") if isinstance(p, UploadFile)]
        if len(packages) != 1:
            raise UploadError(
                f"send exactly one file part 'package' (the .gpkg); got {len(packages)}",
                code="missing_package",
            )
        name = safe_name(packages[0].filename)
        if name.suffix.lower() != ".gpkg":
            raise UploadError(
                f"file {str(name)!r} does not end in .gpkg; send the package's GeoPackage",
                status=415,
                code="not_a_geopackage",
            )
        photos = [p for p in form.getlist("photos") if isinstance(p, UploadFile)]
        targets = [safe_name(p.filename, folders=True) for p in photos]
        if len(set(targets) | {name}) != len(targets) + 1:
            raise UploadError("two uploaded files have the same name; send each file once")
        package = folder / name
        size = await _copy(packages[0], package)
        check_geopackage(package, str(name))
        kept = []
        for upload, rel in zip(photos, targets, strict=True):
            size += await _copy(upload, folder.joinpath(*rel.parts))
            kept.append(folder.joinpath(*rel.parts))
        return Received(folder, package, tuple(kept), size)
    finally:
        await form.close()
