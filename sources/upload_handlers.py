"""Upload sizes checked while the request streams in, before a file is spooled or read into memory."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler

from ragplatform.exceptions import ErrorCode, TooLarge


class DocumentSizeLimitHandler(FileUploadHandler):
    """First of a request's upload handlers: counts each file's bytes as they arrive.

    The chunk that takes a file past ``SOURCE_MAX_DOCUMENT_BYTES`` stops the whole
    request with a 413, so the rest of the body is never read, and nothing of the
    request is stored. Below the limit it hands every chunk on unchanged to Django's
    own handlers (memory, then a temporary file).
    """

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        limit = settings.SOURCE_MAX_DOCUMENT_BYTES
        if self.received > limit:
            raise TooLarge(
                f"{self.file_name} is larger than {limit} bytes (SOURCE_MAX_DOCUMENT_BYTES); the upload was stopped.",
                code=ErrorCode.TOO_LARGE,
                details={"file": [f"larger than {limit} bytes"]},
            )
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handler builds the file
