"""REST endpoints of retrieval: search, answer, feedback and its export, staff reports, version evaluations."""

import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from acl.authentication import acting_service_account
from index_versions.models import IndexVersion
from index_versions.selectors import index_version_active, index_version_list
from ragplatform.permissions import IsStaff
from retrieval import export, reports, services
from retrieval.evaluation import gate
from retrieval.serializers import (
    AnswerInputSerializer,
    AnswerOutputSerializer,
    FeedbackExportInputSerializer,
    FeedbackInputSerializer,
    FeedbackOutputSerializer,
    SearchInputSerializer,
    SearchOutputSerializer,
    StaleDuplicateGroupSerializer,
    StaleDuplicatesInputSerializer,
    VersionEvaluationOutputSerializer,
)


class SearchApi(APIView):
    throttle_fail_open = True  # a read: served unthrottled while the throttle counters are unreachable

    @extend_schema(
        request=SearchInputSerializer,
        responses=SearchOutputSerializer,
        summary="The k passages nearest to the query among those the caller may read",
    )
    def post(self, request):
        serializer = SearchInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = services.search_run(
            user=request.user, service_account=acting_service_account(request), **serializer.validated_data
        )
        return Response(SearchOutputSerializer(outcome).data)


class AnswerApi(APIView):
    throttle_fail_open = True

    @extend_schema(
        request=AnswerInputSerializer,
        responses=AnswerOutputSerializer,
        summary="An answer to the query from the passages the caller may read, citing them as [n]",
    )
    def post(self, request):
        serializer = AnswerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = services.answer_run(
            user=request.user, service_account=acting_service_account(request), **serializer.validated_data
        )
        return Response(AnswerOutputSerializer(outcome).data)


class FeedbackApi(APIView):
    @extend_schema(
        request=FeedbackInputSerializer,
        responses={201: FeedbackOutputSerializer},
        summary="Rate one of your searches or answers (up or down, with a comment)",
    )
    def post(self, request):
        serializer = FeedbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        feedback = services.feedback_give(
            user=request.user, event_id=data["id"], rating=data["rating"], comment=data["comment"]
        )
        return Response(FeedbackOutputSerializer(feedback).data, status=status.HTTP_201_CREATED)


class FeedbackExportApi(APIView):
    permission_classes = [IsStaff]
    # The export quotes searches and answers from the audit trail.
    staff_permissions = {"GET": ("acl.view_auditevent", "retrieval.view_feedback")}

    @extend_schema(
        parameters=[FeedbackExportInputSerializer],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
        summary="Staff: rated searches and answers as a JSONL evaluation or fine-tuning (chat) dataset",
    )
    def get(self, request):
        serializer = FeedbackExportInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        rows = export.feedback_dataset_rows(kind=serializer.validated_data["kind"])
        response = StreamingHttpResponse(
            (json.dumps(row, ensure_ascii=False) + "\n" for row in rows), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = f'attachment; filename="{serializer.validated_data["kind"]}.jsonl"'
        return response


class StaleDuplicatesApi(GenericAPIView):
    """Staff: an operator report, so titles and URIs of every copy are shown (no ACL)."""

    permission_classes = [IsStaff]
    staff_permissions = {"GET": "index_versions.view_indexversion"}
    serializer_class = StaleDuplicateGroupSerializer

    @extend_schema(
        parameters=[StaleDuplicatesInputSerializer],
        responses=StaleDuplicateGroupSerializer(many=True),
        summary="Staff: duplicate groups whose copies disagree on their date, widest spread first",
    )
    def get(self, request):
        serializer = StaleDuplicatesInputSerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "version" in data:
            version = get_object_or_404(IndexVersion.objects.all(), pk=data["version"])
        else:
            version = index_version_active()
        groups = [] if version is None else reports.stale_duplicates(version=version, min_days=data["min_days"])
        page = self.paginate_queryset(groups)
        return self.get_paginated_response(StaleDuplicateGroupSerializer(page, many=True).data)


class IndexVersionEvaluationsApi(GenericAPIView):
    """Staff: the version's scores on the evaluation gate's set (newest first); POST scores it now."""

    permission_classes = [IsStaff]
    staff_permissions = {"GET": "index_versions.view_indexversion", "POST": "index_versions.change_indexversion"}
    serializer_class = VersionEvaluationOutputSerializer

    def get_queryset(self):
        version = get_object_or_404(index_version_list(), pk=self.kwargs["version_id"])
        return gate.version_evaluation_list(version=version)

    @extend_schema(responses=VersionEvaluationOutputSerializer(many=True))
    def get(self, request, version_id):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(VersionEvaluationOutputSerializer(page, many=True).data)

    @extend_schema(
        request=None,
        responses={201: VersionEvaluationOutputSerializer},
        summary="Score this version against the active one on the evaluation gate's set; activates nothing",
    )
    def post(self, request, version_id):
        version = get_object_or_404(index_version_list(), pk=version_id)
        evaluation = gate.version_evaluate_now(version=version, actor=request.user)
        return Response(VersionEvaluationOutputSerializer(evaluation).data, status=status.HTTP_201_CREATED)
