from rest_framework import serializers

from index_versions.models import IndexVersion, Pipeline


class PipelineOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Pipeline
        fields = ["id", "chunker", "embedding_model", "dimensions"]


class IndexVersionOutputSerializer(serializers.ModelSerializer):
    pipeline = PipelineOutputSerializer()

    class Meta:
        model = IndexVersion
        fields = ["id", "state", "created_at", "ready_at", "activated_at", "parent", "pipeline", "counts", "note"]
