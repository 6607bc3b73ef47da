"""An upload's size is checked while it streams in: past SOURCE_MAX_DOCUMENT_BYTES the request stops, with a 413.

The body is read from a real stream that counts what was read from it, through the
real view, so the test sees how much of an oversized upload the server took in.
"""

import io

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory
from rest_framework.test import force_authenticate

from acl.models import AuditEvent
from sources.apis import SourceUploadListApi
from sources.models import UploadedFile
from sources.services.crud import source_create

LIMIT = 100_000
BIG = 5 * 1024 * 1024


class CountingStream(io.BytesIO):
    """``wsgi.input`` that remembers how many bytes the server read."""

    def __init__(self, body: bytes):
        super().__init__(body)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readline(self, size=-1):
        data = super().readline(size)
        self.bytes_read += len(data)
        return data


def multipart(*files: tuple[str, bytes]) -> bytes:
    parts = [
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="' + name.encode() + b'"\r\n'
        b"Content-Type: text/markdown\r\n\r\n" + content + b"\r\n"
        for name, content in files
    ]
    return b"".join(parts) + b"--b--\r\n"


@pytest.fixture
def uploads(db, settings):
    settings.SOURCE_MAX_DOCUMENT_BYTES = LIMIT
    return source_create(name="uploads", kind="upload", config={})


def test_an_oversized_upload_is_stopped_while_it_streams_in(uploads, staff):
    body = multipart(("huge.md", b"# Huge\n" + b"x" * BIG))
    stream = CountingStream(body)
    environ = RequestFactory().post("/", content_type="multipart/form-data; boundary=b").environ
    environ.update({"wsgi.input": stream, "CONTENT_LENGTH": str(len(body)), "PATH_INFO": "/api/v1/sources/1/documents"})
    request = WSGIRequest(environ)
    force_authenticate(request, user=staff)
    response = SourceUploadListApi.as_view()(request, source_id=uploads.pk)
    assert response.status_code == 413
    assert response.data["error"]["code"] == "too_large"
    assert stream.bytes_read < LIMIT + 1024 * 1024, f"read {stream.bytes_read} of {len(body)} bytes"
    assert not UploadedFile.objects.exists()


def test_one_oversized_file_refuses_the_whole_upload_and_is_audited(uploads, api, staff):
    body = multipart(("small.md", b"# Small\n\nFine."), ("huge.md", b"x" * (LIMIT + 1)))
    response = api(staff).generic(
        "POST", f"/api/v1/sources/{uploads.pk}/documents", body, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 413, response.content
    error = response.json()["error"]
    assert error["code"] == "too_large" and "huge.md" in error["message"]
    assert not UploadedFile.objects.exists()  # nothing half-written: small.md is not kept either
    (event,) = AuditEvent.objects.filter(action="request.refused")
    assert (event.actor, event.details["code"]) == (staff, "too_large")

    exactly = multipart(("small.md", b"# Small\n\nFine."), ("limit.md", b"x" * LIMIT))
    response = api(staff).generic(
        "POST", f"/api/v1/sources/{uploads.pk}/documents", exactly, content_type="multipart/form-data; boundary=b"
    )
    assert response.status_code == 201, response.content
    assert sorted(UploadedFile.objects.values_list("name", "size")) == [("limit.md", LIMIT), ("small.md", 14)]
