"""REST endpoints of sources: create, change, delete, pause and resume their schedules, upload files."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ragplatform.permissions import IsStaff, ReadAnyWriteStaff
from sources import selectors
from sources.serializers import (
    SourceInputSerializer,
    SourceOutputSerializer,
    SourcePatchSerializer,
    SourcePauseInputSerializer,
    UploadedFileOutputSerializer,
    UploadInputSerializer,
)
from sources.services import crud, schedules, uploads
from sources.upload_handlers import DocumentSizeLimitHandler


class SourceListCreateApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
    staff_permissions = {"POST": "sources.add_source"}
    serializer_class = SourceOutputSerializer

    def get_queryset(self):
        return selectors.source_list(user=self.request.user)

    @extend_schema(responses=SourceOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(SourceOutputSerializer(page, many=True).data)

    @extend_schema(request=SourceInputSerializer, responses={201: SourceOutputSerializer})
    def post(self, request):
        serializer = SourceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = crud.source_create(**serializer.validated_data)
        return Response(SourceOutputSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(APIView):
    permission_classes = [ReadAnyWriteStaff]
    staff_permissions = {"PATCH": "sources.change_source", "DELETE": "sources.delete_source"}

    def _source(self, request, source_id):
        # A source the caller may not see is "not found", never "forbidden".
        return get_object_or_404(selectors.source_list(user=request.user), pk=source_id)

    @extend_schema(responses=SourceOutputSerializer)
    def get(self, request, source_id):
        return Response(SourceOutputSerializer(self._source(request, source_id)).data)

    @extend_schema(request=SourcePatchSerializer, responses=SourceOutputSerializer)
    def patch(self, request, source_id):
        source = self._source(request, source_id)
        serializer = SourcePatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = crud.source_update(source=source, data=serializer.validated_data)
        return Response(SourceOutputSerializer(source).data)

    @extend_schema(responses={204: None})
    def delete(self, request, source_id):
        crud.source_delete(source=self._source(request, source_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceUploadListApi(GenericAPIView):
    """The files of an ``upload`` source: list them, or upload (multipart, field ``file``, repeatable)."""

    permission_classes = [IsStaff]
    staff_permissions = {"GET": "sources.view_source", "POST": "sources.change_source"}
    # Multipart only here; every other endpoint of the API takes JSON.
    parser_classes = [MultiPartParser]
    serializer_class = UploadedFileOutputSerializer

    def initialize_request(self, request, *args, **kwargs):
        # Before anything reads the body (a session's CSRF check reads the form): each file's size is
        # checked as it streams in, not after it has been spooled and read into memory.
        request.upload_handlers.insert(0, DocumentSizeLimitHandler(request))
        return super().initialize_request(request, *args, **kwargs)

    def _source(self, request, source_id):
        return get_object_or_404(selectors.source_list(user=request.user), pk=source_id)

    @extend_schema(responses=UploadedFileOutputSerializer(many=True))
    def get(self, request, source_id):
        source = self._source(request, source_id)
        page = self.paginate_queryset(selectors.uploaded_file_list(source=source))
        return self.get_paginated_response(UploadedFileOutputSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": UploadInputSerializer},
        responses={201: UploadedFileOutputSerializer(many=True)},
        summary="Upload files; one with the name of an existing file replaces it",
    )
    def post(self, request, source_id):
        source = self._source(request, source_id)
        serializer = UploadInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        stored = uploads.uploaded_files_put(
            source=source,
            files=[(f.name, f.read(), f.content_type or "") for f in serializer.validated_data["file"]],
            uploaded_by=request.user,
            metadata=serializer.validated_data.get("metadata"),
        )
        return Response(UploadedFileOutputSerializer(stored, many=True).data, status=status.HTTP_201_CREATED)


class SourceUploadDetailApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"DELETE": "sources.change_source"}

    @extend_schema(responses={204: None}, summary="Remove an uploaded file (gone from the index at the next sync)")
    def delete(self, request, source_id, name):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        upload = get_object_or_404(selectors.uploaded_file_list(source=source), name=name)
        uploads.uploaded_file_delete(upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourcePauseApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "sources.change_source"}

    @extend_schema(
        request=SourcePauseInputSerializer, responses=SourceOutputSerializer, summary="Pause scheduled syncs"
    )
    def post(self, request, source_id):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        serializer = SourcePauseInputSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        source = schedules.source_schedule_pause(
            source=source, actor=request.user, reason=serializer.validated_data.get("reason", "")
        )
        return Response(SourceOutputSerializer(source).data)


class SourceResumeApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "sources.change_source"}

    @extend_schema(
        request=None, responses=SourceOutputSerializer, summary="Resume scheduled syncs paused by a rollback"
    )
    def post(self, request, source_id):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        source = schedules.source_schedule_resume(source=source, actor=request.user)
        return Response(SourceOutputSerializer(source).data)
