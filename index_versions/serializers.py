from rest_framework import serializers

from index_versions import embedding
from index_versions.models import IndexVersion, Pipeline


class PipelineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pipeline
        fields = ["id", "chunker", "embedding_model", "dimensions"]


class IndexVersionOutputSerializer(serializers.ModelSerializer):
    """A version; its ``note`` and ``counts`` only with ``context={"internals": True}`` (staff who may view versions).

    A note names a source ("sync #5 of HR-reorg"), and the counts tell whether some text
    was embedded before anywhere (``embeddings_computed`` 0: it exists in a document the
    reader may not see), so anyone else gets the same keys with a blank note and null counts.
    """

    COUNT_KEYS = ("documents", "chunks", "embeddings_computed", "embeddings_reused", "bytes")

    pipeline = PipelineOutputSerializer()

    class Meta:
        model = IndexVersion
        fields = [
            "id",
            "state",
            "created_at",
            "ready_at",
            "activated_at",
            "parent",
            "pipeline",
            "counts",
            "note",
            "pinned",
            "trigger",
            "trigger_source",
        ]

    def to_representation(self, version):
        data = super().to_representation(version)
        if not self.context.get("internals", False):
            data["note"] = ""
            data["counts"] = dict.fromkeys(self.COUNT_KEYS)
            data["trigger_source"] = None  # which source changed names a source the caller may not read
        return data


class PinInputSerializer(serializers.Serializer):
    pinned = serializers.BooleanField(default=True)


class RevertInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class RebuildInputSerializer(serializers.Serializer):
    """A new pipeline; omitted settings are taken from the active version's pipeline."""

    max_tokens = serializers.IntegerField(
        min_value=16, max_value=8192, required=False, help_text="Default: the active pipeline's, or the model's window"
    )
    overlap_tokens = serializers.IntegerField(min_value=0, max_value=4096, required=False)
    embedding_model = serializers.CharField(max_length=500, required=False)
    embedding_backend = serializers.ChoiceField(
        choices=embedding.BACKENDS, required=False, help_text="Default: the model's (torch for a plain model path)"
    )
    embedding_precision = serializers.ChoiceField(
        choices=sorted({p for ps in embedding.PRECISIONS.values() for p in ps}),
        required=False,
        help_text="fp32; int8 (onnx, openvino); fp16 (torch, for a GPU)",
    )


class DiffQuerySerializer(serializers.Serializer):
    against = serializers.IntegerField(min_value=1)


class DiffEntrySerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    source_id = serializers.IntegerField()
    title = serializers.CharField()


class DiffOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    against = serializers.IntegerField()
    added = DiffEntrySerializer(many=True)
    removed = DiffEntrySerializer(many=True)
    changed = DiffEntrySerializer(many=True)
    counts = serializers.DictField(child=serializers.IntegerField())
