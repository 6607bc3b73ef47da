import json

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from index_versions.models import IndexVersion
from index_versions.services import index_version_active
from ragplatform.authentication import acting_service_account
from ragplatform.permissions import IsStaff
from retrieval import selectors, services
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
)


class SearchApi(APIView):
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

    @extend_schema(
        parameters=[FeedbackExportInputSerializer],
        responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
        summary="Staff: rated searches and answers as a JSONL evaluation or fine-tuning (chat) dataset",
    )
    def get(self, request):
        serializer = FeedbackExportInputSerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        rows = selectors.feedback_dataset_rows(kind=serializer.validated_data["kind"])
        response = StreamingHttpResponse(
            (json.dumps(row, ensure_ascii=False) + "\n" for row in rows), content_type="application/x-ndjson"
        )
        response["Content-Disposition"] = f'attachment; filename="{serializer.validated_data["kind"]}.jsonl"'
        return response


class StaleDuplicatesApi(GenericAPIView):
    """Staff: an operator report, so titles and URIs of every copy are shown (no ACL)."""

    permission_classes = [IsStaff]
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
        groups = [] if version is None else selectors.stale_duplicates(version=version, min_days=data["min_days"])
        page = self.paginate_queryset(groups)
        return self.get_paginated_response(StaleDuplicateGroupSerializer(page, many=True).data)
