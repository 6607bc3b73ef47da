from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from ragplatform.permissions import IsStaff, ReadAnyWriteStaff
from sources import selectors, services
from sources.models import Document
from sources.serializers import (
    DocumentListFilterSerializer,
    DocumentOutputSerializer,
    DocumentPurgeOutputSerializer,
    SourceInputSerializer,
    SourceOutputSerializer,
    SourcePatchSerializer,
    SourcePauseInputSerializer,
    SyncJobOutputSerializer,
    UploadedFileOutputSerializer,
    UploadInputSerializer,
)


class SourceListCreateApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
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
        source = services.source_create(**serializer.validated_data)
        return Response(SourceOutputSerializer(source).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(APIView):
    permission_classes = [ReadAnyWriteStaff]

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
        source = services.source_update(source=source, data=serializer.validated_data)
        return Response(SourceOutputSerializer(source).data)

    @extend_schema(responses={204: None})
    def delete(self, request, source_id):
        services.source_delete(source=self._source(request, source_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourceSyncApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=None,
        responses={202: inline_serializer("SyncAccepted", {"job_id": serializers.IntegerField()})},
        summary="Queue a sync; if one is in flight for this source, its job is returned",
    )
    def post(self, request, source_id):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        job, created = services.sync_job_request(source=source, requested_by=request.user)
        return Response({"job_id": job.pk, "created": created}, status=status.HTTP_202_ACCEPTED)


class SyncJobDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses=SyncJobOutputSerializer)
    def get(self, request, job_id):
        job = get_object_or_404(selectors.sync_job_list(), pk=job_id)
        return Response(SyncJobOutputSerializer(job).data)


class SyncJobCancelApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=None,
        responses=SyncJobOutputSerializer,
        summary="Stop a sync cleanly: it ends cancelled after its current step, with no new version",
    )
    def post(self, request, job_id):
        job = get_object_or_404(selectors.sync_job_list(), pk=job_id)
        job = services.sync_job_cancel(job=job, actor=request.user)
        return Response(SyncJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class SourceUploadListApi(GenericAPIView):
    """The files of an ``upload`` source: list them, or upload (multipart, field ``file``, repeatable)."""

    permission_classes = [IsStaff]
    # Multipart only here; every other endpoint of the API takes JSON.
    parser_classes = [MultiPartParser]
    serializer_class = UploadedFileOutputSerializer

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
        uploads = [
            services.uploaded_file_put(
                source=source,
                name=upload.name,
                content=upload.read(),
                media_type=upload.content_type or "",
                uploaded_by=request.user,
                metadata=serializer.validated_data.get("metadata"),
            )[0]
            for upload in serializer.validated_data["file"]
        ]
        return Response(UploadedFileOutputSerializer(uploads, many=True).data, status=status.HTTP_201_CREATED)


class SourceUploadDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses={204: None}, summary="Remove an uploaded file (gone from the index at the next sync)")
    def delete(self, request, source_id, name):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        upload = get_object_or_404(selectors.uploaded_file_list(source=source), name=name)
        services.uploaded_file_delete(upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SourcePauseApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=SourcePauseInputSerializer, responses=SourceOutputSerializer, summary="Pause scheduled syncs"
    )
    def post(self, request, source_id):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        serializer = SourcePauseInputSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        source = services.source_schedule_pause(
            source=source, actor=request.user, reason=serializer.validated_data.get("reason", "")
        )
        return Response(SourceOutputSerializer(source).data)


class DocumentListApi(GenericAPIView):
    serializer_class = DocumentOutputSerializer

    def get_queryset(self):
        # A plain dict, not the QueryDict: DRF reads "?source=" on a form as "not given".
        filters = DocumentListFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return selectors.document_list(user=self.request.user, source_id=filters.validated_data.get("source"))

    @extend_schema(
        parameters=[OpenApiParameter("source", int, description="Only documents of this source")],
        responses=DocumentOutputSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(DocumentOutputSerializer(page, many=True).data)


class SourceResumeApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=None, responses=SourceOutputSerializer, summary="Resume scheduled syncs paused by a rollback"
    )
    def post(self, request, source_id):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        source = services.source_schedule_resume(source=source, actor=request.user)
        return Response(SourceOutputSerializer(source).data)


class DocumentPurgeApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=None,
        responses=DocumentPurgeOutputSerializer,
        summary="Compliance purge: remove the document's content from every index version, for good",
    )
    def post(self, request, document_id):
        # Staff purge what they may not read themselves: this lookup deliberately has no ACL.
        document = get_object_or_404(Document.objects.all(), pk=document_id)
        document = services.document_purge(document=document, actor=request.user)
        return Response(DocumentPurgeOutputSerializer(document).data)


class DocumentDetailApi(APIView):
    @extend_schema(responses=DocumentOutputSerializer)
    def get(self, request, document_id):
        document = get_object_or_404(selectors.document_list(user=request.user), pk=document_id)
        return Response(DocumentOutputSerializer(document).data)
