from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from rest_framework import serializers

from acl.models import SourceGrant
from sources.models import Source


class GrantInputSerializer(serializers.Serializer):
    source = serializers.PrimaryKeyRelatedField(queryset=Source.objects.all())
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
