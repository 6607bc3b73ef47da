"""Files of upload sources: stored in the database, picked up by the source's next sync."""

import hashlib

from django.conf import settings
from django.db import transaction

from ragplatform.exceptions import Conflict, ErrorCode, InvalidInput, TooLarge
from sources.metadata import MetadataError, metadata_validate
from sources.models import Source, UploadedFile


def _upload_source(source: Source) -> None:
    if source.kind != Source.Kind.UPLOAD:
        raise Conflict(
            f"Source {source.name!r} is a {source.kind} source; files can be uploaded to upload sources only.",
            code=ErrorCode.NOT_AN_UPLOAD_SOURCE,
        )


def _upload_name(name: str) -> str:
    # Browsers send a bare file name, some clients a path: the last component is the name.
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in {".", ".."} or "\x00" in name or len(name) > 255:
        raise InvalidInput(
            "A file needs a name of 1 to 255 characters, without '/' or NUL.", details={"file": ["invalid file name"]}
        )
    return name


@transaction.atomic
def uploaded_file_put(
    *, source: Source, name: str, content: bytes, media_type: str = "", uploaded_by=None, metadata=None
) -> tuple[UploadedFile, bool]:
    """Store an uploaded file, replacing the one of the same name (metadata included); ``(file, created)``.

    The next sync of the source picks the change up like any other connector's;
    ``metadata`` (see :mod:`sources.metadata`) becomes the revision's, over the
    file's own front matter.
    """
    _upload_source(source)
    name = _upload_name(name)
    try:
        metadata = metadata_validate(metadata)
    except MetadataError as exc:
        raise InvalidInput(str(exc), details={"metadata": [str(exc)]}) from None
    max_bytes = settings.SOURCE_MAX_DOCUMENT_BYTES
    if len(content) > max_bytes:
        raise TooLarge(
            f"{name} is {len(content)} bytes; the limit is {max_bytes} (SOURCE_MAX_DOCUMENT_BYTES).",
            code=ErrorCode.TOO_LARGE,
            details={"file": [f"larger than {max_bytes} bytes"]},
        )
    if not content:
        raise InvalidInput(f"{name} is empty.", code=ErrorCode.EMPTY_FILE, details={"file": ["empty file"]})
    upload, created = UploadedFile.objects.update_or_create(
        source=source,
        name=name,
        defaults={
            "content": content,
            "media_type": media_type[:200],
            "metadata": metadata,
            "size": len(content),
            "content_hash": hashlib.sha256(content).hexdigest(),
            "uploaded_by": uploaded_by,
        },
    )
    return upload, created


@transaction.atomic
def uploaded_files_put(
    *, source: Source, files: list[tuple[str, bytes, str]], uploaded_by=None, metadata=None
) -> list[UploadedFile]:
    """Store the ``(name, content, media type)`` files of one upload request: all of them, or none.

    One refused file (too large, empty, badly named) refuses the request, so a client never
    has to find out which of its files were kept.
    """
    return [
        uploaded_file_put(
            source=source, name=name, content=content, media_type=media_type, uploaded_by=uploaded_by, metadata=metadata
        )[0]
        for name, content, media_type in files
    ]


@transaction.atomic
def uploaded_file_delete(*, upload: UploadedFile) -> None:
    """Remove an uploaded file; the next sync deletes its document from the new index version."""
    upload.delete()
