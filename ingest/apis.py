"""REST endpoints of the sync: request one, follow its job, cancel it."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from ingest import lifecycle
from ragplatform.permissions import IsStaff
from sources import selectors
from sources.serializers import SyncJobOutputSerializer


class SourceSyncApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "sources.sync_source"}

    @extend_schema(
        request=None,
        responses={202: inline_serializer("SyncAccepted", {"job_id": serializers.IntegerField()})},
        summary="Queue a sync; if one is in flight for this source, its job is returned",
    )
    def post(self, request, source_id):
        source = get_object_or_404(selectors.source_list(user=request.user), pk=source_id)
        job, created = lifecycle.sync_job_request(source=source, requested_by=request.user)
        return Response({"job_id": job.pk, "created": created}, status=status.HTTP_202_ACCEPTED)


class SyncJobDetailApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"GET": "sources.view_syncjob"}

    @extend_schema(responses=SyncJobOutputSerializer)
    def get(self, request, job_id):
        job = get_object_or_404(selectors.sync_job_list(), pk=job_id)
        return Response(SyncJobOutputSerializer(job).data)


class SyncJobCancelApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "sources.sync_source"}

    @extend_schema(
        request=None,
        responses=SyncJobOutputSerializer,
        summary="Stop a sync cleanly: it ends cancelled after its current step, with no new version",
    )
    def post(self, request, job_id):
        job = get_object_or_404(selectors.sync_job_list(), pk=job_id)
        job = lifecycle.sync_job_cancel(job=job, actor=request.user)
        return Response(SyncJobOutputSerializer(job).data, status=status.HTTP_202_ACCEPTED)
