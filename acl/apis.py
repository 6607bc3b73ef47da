from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from acl import selectors, services
from acl.authentication import acting_service_account
from acl.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyOutputSerializer,
    AuditEventOutputSerializer,
    AuditFilterSerializer,
    AuditPurgeInputSerializer,
    GrantInputSerializer,
    GrantOutputSerializer,
    GroupInputSerializer,
    GroupOutputSerializer,
    MemberOutputSerializer,
    MembershipInputSerializer,
    ServiceAccountInputSerializer,
    ServiceAccountOutputSerializer,
)
from ragplatform.permissions import IsStaff, IsSuperuser, ReadAnyWriteStaff

# --- grants -------------------------------------------------------------------------------


class GrantListCreateApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
    staff_permissions = {"POST": "acl.add_sourcegrant"}
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
        grant = services.grant_create(
            **serializer.validated_data, actor=request.user, service_account=acting_service_account(request)
        )
        return Response(GrantOutputSerializer(grant).data, status=status.HTTP_201_CREATED)


class GrantDetailApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"DELETE": "acl.delete_sourcegrant"}

    @extend_schema(responses={204: None})
    def delete(self, request, grant_id):
        grant = get_object_or_404(selectors.grant_list(user=request.user), pk=grant_id)
        services.grant_delete(grant=grant, actor=request.user, service_account=acting_service_account(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- groups and membership ----------------------------------------------------------------


class GroupListCreateApi(GenericAPIView):
    permission_classes = [ReadAnyWriteStaff]
    staff_permissions = {"POST": "auth.add_group"}
    serializer_class = GroupOutputSerializer

    def get_queryset(self):
        return selectors.group_list(user=self.request.user)

    @extend_schema(responses=GroupOutputSerializer(many=True), summary="Staff: every group; others: their own")
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(GroupOutputSerializer(page, many=True).data)

    @extend_schema(request=GroupInputSerializer, responses={201: GroupOutputSerializer})
    def post(self, request):
        serializer = GroupInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = services.group_create(**serializer.validated_data, actor=request.user)
        return Response(GroupOutputSerializer(group).data, status=status.HTTP_201_CREATED)


class GroupMemberListCreateApi(GenericAPIView):
    permission_classes = [IsStaff]
    staff_permissions = {"GET": "auth.change_group", "POST": "auth.change_group"}
    serializer_class = MemberOutputSerializer

    def _group(self):
        return get_object_or_404(selectors.group_list(user=self.request.user), pk=self.kwargs["group_id"])

    @extend_schema(responses=MemberOutputSerializer(many=True), summary="Explicit members of a group")
    def get(self, request, group_id):
        page = self.paginate_queryset(selectors.group_member_list(group=self._group()))
        return self.get_paginated_response(MemberOutputSerializer(page, many=True).data)

    @extend_schema(request=MembershipInputSerializer, responses={201: MemberOutputSerializer})
    def post(self, request, group_id):
        group = self._group()
        serializer = MembershipInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        services.group_member_add(group=group, user=user, actor=request.user)
        return Response(MemberOutputSerializer(user).data, status=status.HTTP_201_CREATED)


class GroupMemberDetailApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"DELETE": "auth.change_group"}

    @extend_schema(responses={204: None})
    def delete(self, request, group_id, user_id):
        group = get_object_or_404(selectors.group_list(user=request.user), pk=group_id)
        user = get_object_or_404(selectors.group_member_list(group=group), pk=user_id)
        services.group_member_remove(group=group, user=user, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- service accounts and keys ------------------------------------------------------------


class ServiceAccountListCreateApi(GenericAPIView):
    permission_classes = [IsStaff]
    staff_permissions = {"GET": "acl.view_serviceaccount", "POST": "acl.add_serviceaccount"}
    serializer_class = ServiceAccountOutputSerializer

    def get_queryset(self):
        return selectors.service_account_list()

    @extend_schema(responses=ServiceAccountOutputSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ServiceAccountOutputSerializer(page, many=True).data)

    @extend_schema(request=ServiceAccountInputSerializer, responses={201: ServiceAccountOutputSerializer})
    def post(self, request):
        serializer = ServiceAccountInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        account = services.service_account_create(**serializer.validated_data, actor=request.user)
        return Response(ServiceAccountOutputSerializer(account).data, status=status.HTTP_201_CREATED)


def _service_account(account_id):
    return get_object_or_404(selectors.service_account_list(), pk=account_id)


def _api_key(account_id, key_id):
    return get_object_or_404(selectors.api_key_list(service_account=_service_account(account_id)), pk=key_id)


class ApiKeyListCreateApi(GenericAPIView):
    permission_classes = [IsStaff]
    staff_permissions = {"GET": "acl.view_serviceaccount", "POST": "acl.change_serviceaccount"}
    serializer_class = ApiKeyOutputSerializer

    @extend_schema(responses=ApiKeyOutputSerializer(many=True), summary="Keys of a service account (prefixes only)")
    def get(self, request, account_id):
        keys = selectors.api_key_list(service_account=_service_account(account_id))
        page = self.paginate_queryset(keys)
        return self.get_paginated_response(ApiKeyOutputSerializer(page, many=True).data)

    @extend_schema(request=None, responses={201: ApiKeyCreatedSerializer}, summary="A new key, shown only now")
    def post(self, request, account_id):
        key, raw_key = services.api_key_create(service_account=_service_account(account_id), actor=request.user)
        return Response(_created(key, raw_key), status=status.HTTP_201_CREATED)


class ApiKeyDetailApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"DELETE": "acl.change_serviceaccount"}

    @extend_schema(responses={204: None}, summary="Revoke a key: the next request with it is refused")
    def delete(self, request, account_id, key_id):
        services.api_key_revoke(key=_api_key(account_id, key_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRotateApi(APIView):
    permission_classes = [IsStaff]
    staff_permissions = {"POST": "acl.change_serviceaccount"}

    @extend_schema(request=None, responses={201: ApiKeyCreatedSerializer}, summary="Revoke a key and issue another")
    def post(self, request, account_id, key_id):
        key, raw_key = services.api_key_rotate(key=_api_key(account_id, key_id), actor=request.user)
        return Response(_created(key, raw_key), status=status.HTTP_201_CREATED)


def _created(key, raw_key: str) -> dict:
    return ApiKeyCreatedSerializer(
        {"id": key.pk, "prefix": key.prefix, "key": raw_key, "created_at": key.created_at}
    ).data


# --- audit --------------------------------------------------------------------------------


class AuditEventListApi(GenericAPIView):
    permission_classes = [IsStaff]
    staff_permissions = {"GET": "acl.view_auditevent"}
    serializer_class = AuditEventOutputSerializer

    def get_queryset(self):
        filters = AuditFilterSerializer(data=self.request.query_params.dict())
        filters.is_valid(raise_exception=True)
        return selectors.audit_event_list(
            action=filters.validated_data.get("action"), actor_id=filters.validated_data.get("actor")
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, description="Only events of this action"),
            OpenApiParameter("actor", int, description="Only events of this user"),
        ],
        responses=AuditEventOutputSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(AuditEventOutputSerializer(page, many=True).data)


class AuditPurgeApi(APIView):
    """Superusers only, and the purge itself is audited: no delegated role can cut the trail."""

    permission_classes = [IsSuperuser]

    @extend_schema(
        request=AuditPurgeInputSerializer,
        responses=inline_serializer("AuditPurged", {"deleted": serializers.IntegerField()}),
        summary="Delete audit events older than the retention (or older_than_days)",
    )
    def post(self, request):
        serializer = AuditPurgeInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deleted = services.audit_purge(**serializer.validated_data, actor=request.user)
        return Response({"deleted": deleted})
