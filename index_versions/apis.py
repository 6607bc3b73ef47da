from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from index_versions import selectors, services
from index_versions.serializers import IndexVersionOutputSerializer
from ragplatform.permissions import IsStaff


class IndexVersionListApi(GenericAPIView):
    serializer_class = IndexVersionOutputSerializer

    def get_queryset(self):
        return selectors.index_version_list()

    @extend_schema(responses=IndexVersionOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(IndexVersionOutputSerializer(page, many=True).data)


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
