"""REST endpoints of index versions (list, activate, pin, diff, rebuild, revert) and of the documents they hold."""

import copy

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from acl.selectors import staff_may
from index_versions import selectors
from index_versions.serializers import (
    DiffOutputSerializer,
    DiffQuerySerializer,
    IndexVersionOutputSerializer,
    PinInputSerializer,
    RebuildInputSerializer,
    RevertInputSerializer,
)
from index_versions.services import activation, building, pipelines, purge
from ragplatform.permissions import IsStaff, ReadAnyWriteStaff
from sources.models import Document
from sources.selectors import source_list
from sources.serializers import DocumentListFilterSerializer, DocumentOutputSerializer, DocumentPurgeOutputSerializer


def _sees_version_internals(user) -> bool:
    """Notes and counts describe every source, hidden ones included: staff who may view versions only."""
    return staff_may(user, "index_versions.view_indexversion")


def _version_output(request, versions, *, many: bool = False):
    context = {"internals": _sees_version_internals(request.user)}
    return IndexVersionOutputSerializer(versions, many=many, context=context).data


def _diff_reader(user):
    """Who the diff is read as: ``index_version_diff`` shows staff every document, so staff who may not view
    versions are read as the ordinary users they then are (an unsaved copy, like an on-behalf-of user)."""
    if user.is_staff and not _sees_version_internals(user):
        user = copy.copy(user)
        user.is_staff = False
    return user


class IndexVersionListApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
    staff_permissions = {"POST": "index_versions.add_indexversion"}
    serializer_class = IndexVersionOutputSerializer

    def get_queryset(self):
        return selectors.index_version_list()

    @extend_schema(responses=IndexVersionOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(_version_output(request, page, many=True))

    @extend_schema(
        request=RebuildInputSerializer,
        responses={202: IndexVersionOutputSerializer},
        summary="Build a complete new version under another pipeline, in the background; not activated",
    )
    def post(self, request):
        serializer = RebuildInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pipeline = pipelines.pipeline_derive(**serializer.validated_data)
        version = building.index_version_rebuild(pipeline=pipeline, actor=request.user)
        return Response(_version_output(request, version), status=status.HTTP_202_ACCEPTED)


class IndexVersionDetailApi(APIView):
    @extend_schema(responses=IndexVersionOutputSerializer)
    def get(self, request, version_id):
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        return Response(_version_output(request, version))


class IndexVersionActivateApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "index_versions.activate_indexversion"}

    @extend_schema(request=None, responses=IndexVersionOutputSerializer, summary="Make this version the active one")
    def post(self, request, version_id):
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        version = activation.index_version_activate(version=version, actor=request.user, reason="api")
        return Response(_version_output(request, version))


class IndexVersionPinApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "index_versions.change_indexversion"}

    @extend_schema(request=PinInputSerializer, responses=IndexVersionOutputSerializer, summary="Pin (or unpin)")
    def post(self, request, version_id):
        version = get_object_or_404(selectors.index_version_list(), pk=version_id)
        serializer = PinInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = activation.index_version_pin(version=version, actor=request.user, **serializer.validated_data)
        return Response(_version_output(request, version))


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
        diff = selectors.index_version_diff(version=version, against=against, user=_diff_reader(request.user))
        return Response(DiffOutputSerializer(diff).data)


class SourceRevertApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "index_versions.activate_indexversion"}

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
        new_version = building.index_version_revert_source(source=source, version=version, actor=request.user)
        return Response(_version_output(request, new_version), status=status.HTTP_201_CREATED)


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


class DocumentDetailApi(APIView):
    @extend_schema(responses=DocumentOutputSerializer)
    def get(self, request, document_id):
        document = get_object_or_404(selectors.document_list(user=request.user), pk=document_id)
        return Response(DocumentOutputSerializer(document).data)


class DocumentPurgeApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "sources.purge_document"}

    @extend_schema(
        request=None,
        responses=DocumentPurgeOutputSerializer,
        summary="Compliance purge: remove the document's content from every index version, for good",
    )
    def post(self, request, document_id):
        # Staff purge what they may not read themselves: this lookup deliberately has no ACL.
        document = get_object_or_404(Document.objects.all(), pk=document_id)
        document = purge.document_purge(document=document, actor=request.user)
        return Response(DocumentPurgeOutputSerializer(document).data)
