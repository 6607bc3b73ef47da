from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from acl import selectors, services
from acl.serializers import GrantInputSerializer, GrantOutputSerializer
from ragplatform.permissions import IsStaff, ReadAnyWriteStaff


class GrantListCreateApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
    serializer_class = GrantOutputSerializer

    def get_queryset(self):
        return selectors.grant_list(user=self.request.user)

    @extend_schema(responses=GrantOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(GrantOutputSerializer(page, many=True).data)

    @extend_schema(request=GrantInputSerializer, responses={201: GrantOutputSerializer})
    def post(self, request):
        serializer = GrantInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grant = services.grant_create(**serializer.validated_data, actor=request.user)
        return Response(GrantOutputSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantDetailApi(APIView):
    permission_classes = [IsStaff]

    @extend_schema(responses={204: None})
    def delete(self, request, grant_id):
        grant = get_object_or_404(selectors.grant_list(user=request.user), pk=grant_id)
        services.grant_delete(grant=grant, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
