from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework import serializers

from acl.models import AUDIT_MAX_RETENTION_DAYS, ApiKey, AuditEvent, ServiceAccount, SourceGrant


class GrantInputSerializer(serializers.Serializer):
    # The source model through the grant's relation: access control sits below sources and imports none of them.
    source = serializers.PrimaryKeyRelatedField(
        queryset=SourceGrant._meta.get_field("source").related_model.objects.all()
    )
    user = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all(), required=False, allow_null=True)
    group = serializers.PrimaryKeyRelatedField(queryset=Group.objects.all(), required=False, allow_null=True)

    def validate(self, attrs):
        if (attrs.get("user") is None) == (attrs.get("group") is None):
            raise serializers.ValidationError("Give exactly one of user or group.")
        return attrs


class GrantOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = SourceGrant
        fields = ["id", "source", "user", "group", "created_at"]


class GroupInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=150)


class GroupOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Group
        fields = ["id", "name"]


class MembershipInputSerializer(serializers.Serializer):
    user = serializers.PrimaryKeyRelatedField(queryset=get_user_model().objects.all())


class MemberOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username"]


class ServiceAccountInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    may_act_on_behalf = serializers.BooleanField(default=False)


class ApiKeyOutputSerializer(serializers.ModelSerializer):
    """A key as listed: its prefix only, never the key."""

    class Meta:
        model = ApiKey
        fields = ["id", "prefix", "created_at", "revoked_at"]


class ApiKeyCreatedSerializer(serializers.Serializer):
    """A new key, shown once: only its hash is stored."""

    id = serializers.IntegerField()
    prefix = serializers.CharField()
    key = serializers.CharField()
    created_at = serializers.DateTimeField()


class ServiceAccountOutputSerializer(serializers.ModelSerializer):
    keys = ApiKeyOutputSerializer(many=True, read_only=True)

    class Meta:
        model = ServiceAccount
        fields = ["id", "name", "user", "may_act_on_behalf", "created_at", "keys"]


class AuditFilterSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditEvent.Action.choices, required=False)
    actor = serializers.IntegerField(min_value=1, required=False)


class AuditEventOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "actor",
            "service_account",
            "action",
            "target",
            "details",
            "index_version",
            "result_count",
        ]


class AuditPurgeInputSerializer(serializers.Serializer):
    older_than_days = serializers.IntegerField(min_value=0, max_value=AUDIT_MAX_RETENTION_DAYS, required=False)
