from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from sources.metadata import MetadataError, metadata_validate
from sources.models import Document, Source, SyncJob, UploadedFile


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def refuse_nul_characters(value):
    """PostgreSQL's jsonb cannot hold U+0000: refuse it as bad input, not as a database error."""
    if _has_nul(value):
        raise serializers.ValidationError("NUL characters are not allowed.")


class SourceInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=Source.Kind.choices)
    config = serializers.JSONField(validators=[refuse_nul_characters])
    enabled = serializers.BooleanField(default=True)
    sync_interval_minutes = serializers.IntegerField(min_value=1, max_value=525_600, required=False, allow_null=True)


class SourcePatchSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    kind = serializers.ChoiceField(choices=Source.Kind.choices, required=False)
    config = serializers.JSONField(required=False, validators=[refuse_nul_characters])
    enabled = serializers.BooleanField(required=False)
    sync_interval_minutes = serializers.IntegerField(min_value=1, max_value=525_600, required=False, allow_null=True)

    def validate(self, attrs):
        unknown = set(self.initial_data) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["unknown field"] for name in sorted(unknown)})
        return attrs


class SourceOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "kind",
            "config",
            "enabled",
            "last_synced_at",
            "sync_interval_minutes",
            "sync_paused",
            "sync_paused_at",
            "sync_paused_reason",
        ]


class SyncJobOutputSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = SyncJob
        fields = [
            "id",
            "source",
            "status",
            "index_version",
            "counts",
            "errors",
            "progress",
            "message",
            "created_at",
            "started_at",
            "finished_at",
        ]

    @extend_schema_field(
        inline_serializer(
            "SyncProgress", {"done": serializers.IntegerField(), "total": serializers.IntegerField(allow_null=True)}
        )
    )
    def get_progress(self, job) -> dict:
        # ``total`` is unknown (null) until the connector has listed the whole source.
        return {"done": job.progress_done, "total": job.progress_total}


class DocumentOutputSerializer(serializers.ModelSerializer):
    metadata = serializers.SerializerMethodField(help_text="The metadata of the revision in the active version")

    class Meta:
        model = Document
        fields = [
            "id", "source", "external_id", "title", "uri", "content_hash", "modified_at", "metadata", "updated_at"
        ]  # fmt: skip

    def get_metadata(self, document) -> dict:
        # Annotated by sources.selectors.document_list.
        return getattr(document, "active_metadata", None) or {}


class DocumentPurgeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "source", "external_id", "purged_at", "purged_by"]


class DocumentListFilterSerializer(serializers.Serializer):
    source = serializers.IntegerField(required=False, min_value=1)


class UploadInputSerializer(serializers.Serializer):
    file = serializers.ListField(child=serializers.FileField(allow_empty_file=True), min_length=1, max_length=100)
    # A form field holding a JSON object; applies to every file of the request.
    metadata = serializers.JSONField(
        required=False,
        binary=True,
        help_text='A JSON object of flat key: value pairs for the files, e.g. {"team": "hr", "tags": ["policy"]}',
    )

    def validate_metadata(self, value):
        try:
            return metadata_validate(value)
        except MetadataError as exc:
            raise serializers.ValidationError(str(exc)) from None


class UploadedFileOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = UploadedFile
        fields = ["id", "name", "media_type", "size", "content_hash", "metadata", "uploaded_at", "uploaded_by"]


class SourcePauseInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
