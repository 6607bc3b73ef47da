from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from index_versions import selectors, services
from index_versions.serializers import (
    DiffOutputSerializer,
    DiffQuerySerializer,
    IndexVersionOutputSerializer,
    PinInputSerializer,
    RebuildInputSerializer,
    RevertInputSerializer,
    VersionEvaluationOutputSerializer,
)
from ragplatform.permissions import IsStaff, ReadAnyWriteStaff
from retrieval import gate
from sources.selectors import source_list


class IndexVersionListApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
    serializer_class = IndexVersionOutputSerializer

    def get_queryset(self):
        return selectors.index_version_list()

    @extend_schema(responses=IndexVersionOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(IndexVersionOutputSerializer(page, many=True).data)

    @extend_schema(
        request=RebuildInputSerializer,
        responses={202: IndexVersionOutputSerializer},
        summary="Build a complete new version under another pipeline, in the background; not activated",
    )
    def post(self, request):
        serializer = RebuildInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pipeline = services.pipeline_derive(**serializer.validated_data)
        version = services.index_version_rebuild(pipeline=pipeline, actor=request.user)
        return Response(IndexVersionOutputSerializer(version).data, status=status.HTTP_202_ACCEPTED)


class IndexVersionDetailApi(APIView):
    @extend_schema(responses=IndexVersionOutputSerializer)
    def get(self, request, version_id):
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        return Response(IndexVersionOutputSerializer(version).data)


class IndexVersionActivateApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=None, responses=IndexVersionOutputSerializer, summary="Make this version the active one")
    def post(self, request, version_id):
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        version = services.index_version_activate(version=version, actor=request.user, reason="api")
        return Response(IndexVersionOutputSerializer(version).data)


class IndexVersionEvaluationsApi(GenericAPIView):
    """Staff: the version's scores on the evaluation gate's set (newest first); POST scores it now."""

    permission_classes = [IsStaff]
    serializer_class = VersionEvaluationOutputSerializer

    def get_queryset(self):
        version = get_object_or_404(selectors.index_version_list(), pk=self.kwargs["version_id"])
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
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        evaluation = gate.version_evaluate_now(version=version, actor=request.user)
        return Response(VersionEvaluationOutputSerializer(evaluation).data, status=status.HTTP_201_CREATED)


class IndexVersionPinApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(request=PinInputSerializer, responses=IndexVersionOutputSerializer, summary="Pin (or unpin)")
    def post(self, request, version_id):
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        serializer = PinInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.index_version_pin(version=version, actor=request.user, **serializer.validated_data)
        return Response(IndexVersionOutputSerializer(version).data)


class IndexVersionDiffApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("against", int, required=True, description="the version to compare with")],
        responses=DiffOutputSerializer,
        summary="Documents added, removed and changed relative to another version",
    )
    def get(self, request, version_id):
        query = DiffQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        against = get_object_or_404(selectors.index_version_list(), pk=query.validated_data["against"])
        diff = selectors.index_version_diff(version=version, against=against, user=request.user)
        return Response(DiffOutputSerializer(diff).data)


class SourceRevertApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(
        request=RevertInputSerializer,
        responses={201: IndexVersionOutputSerializer},
        summary="Restore one source as it was in a version: a new active version, nothing re-embedded",
    )
    def post(self, request, source_id):
        source = get_object_or_404(source_list(user=request.user), pk=source_id)
        serializer = RevertInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = get_object_or_404(selectors.index_version_list(), pk=serializer.validated_data["version"])
        new_version = services.index_version_revert_source(source=source, version=version, actor=request.user)
        return Response(IndexVersionOutputSerializer(new_version).data, status=status.HTTP_201_CREATED)
