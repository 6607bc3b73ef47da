from rest_framework import serializers


class SearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, trim_whitespace=True)
    k = serializers.IntegerField(min_value=1, default=10)

    def validate_k(self, value):
        from django.conf import settings

        if value > settings.SEARCH_MAX_K:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {settings.SEARCH_MAX_K}.")
        return value


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    source_id = serializers.IntegerField()
    uri = serializers.CharField()
    section = serializers.CharField()
    text = serializers.CharField()
    score = serializers.FloatField()


class SearchOutputSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    index_version = serializers.IntegerField(allow_null=True)
    took_ms = serializers.FloatField()
