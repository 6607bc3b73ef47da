"""Files posted to ``POST /api/v1/sources/{id}/documents``, kept in the database."""

from collections.abc import Iterator

from sources.connectors.base import Connector, FetchedDocument, FetchFailure, require_object
from sources.metadata import document_metadata
from sources.models import UploadedFile
from sources.parsers import media_type_for


class UploadConnector(Connector):
    kind = "upload"

    def validate_config(self, config: dict) -> dict:
        require_object(config, allowed=set())
        return {}

    def fetch(self, config: dict, *, source_id: int) -> Iterator[FetchedDocument | FetchFailure]:
        files = UploadedFile.objects.filter(source_id=source_id).order_by("name")
        for upload in files.iterator(chunk_size=100):
            content = bytes(upload.content)
            media_type = media_type_for(upload.name, declared=upload.media_type)
            yield FetchedDocument(
                external_id=upload.name,
                title=upload.name.rsplit(".", 1)[0],
                uri=f"upload:{source_id}/{upload.name}",
                content=content,
                media_type=media_type,
                modified_at=upload.uploaded_at,
                # What the uploader gave wins over the file's own front matter.
                metadata=document_metadata(content, media_type=media_type, given=upload.metadata),
            )
