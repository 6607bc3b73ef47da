from rest_framework import serializers

from retrieval.selectors import SearchFilters, SearchMode


class SearchFiltersSerializer(serializers.Serializer):
    modified_after = serializers.DateTimeField(required=False)
    modified_before = serializers.DateTimeField(required=False)
    document_types = serializers.ListField(
        child=serializers.RegexField(r"^\.?[A-Za-z0-9]{1,16}$"),
        required=False,
        max_length=50,
        help_text='File extensions, e.g. ["md", "pdf"]',
    )


class SearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, trim_whitespace=True)
    k = serializers.IntegerField(min_value=1, default=10)
    mode = serializers.ChoiceField(choices=SearchMode.ALL, required=False, help_text="Default: hybrid")
    sources = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    filters = SearchFiltersSerializer(required=False)

    def validate_k(self, value):
        from django.conf import settings

        if value > settings.SEARCH_MAX_K:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {settings.SEARCH_MAX_K}.")
        return value

    def validate(self, attrs):
        """Sources and filters become one :class:`SearchFilters` the selector applies in SQL."""
        raw = attrs.pop("filters", None) or {}
        attrs["filters"] = SearchFilters(
            sources=tuple(attrs.pop("sources", None) or ()),
            modified_after=raw.get("modified_after"),
            modified_before=raw.get("modified_before"),
            document_types=tuple(raw.get("document_types") or ()),
        )
        return attrs


class AlsoInSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    source_id = serializers.IntegerField()
    uri = serializers.CharField()


class SearchHitSerializer(serializers.Serializer):
    chunk_id = serializers.IntegerField()
    document_id = serializers.IntegerField()
    document_title = serializers.CharField()
    source_id = serializers.IntegerField()
    uri = serializers.CharField()
    section = serializers.CharField()
    text = serializers.CharField()
    score = serializers.FloatField()
    modified_at = serializers.DateTimeField(allow_null=True)
    also_in = AlsoInSerializer(many=True, help_text="Other copies of this text the caller may read")


class SearchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The search's audit event")
    results = SearchHitSerializer(many=True)
    index_version = serializers.IntegerField(allow_null=True)
    took_ms = serializers.FloatField()


class AnswerInputSerializer(SearchInputSerializer):
    k = serializers.IntegerField(min_value=1, default=5)
    generator = serializers.CharField(required=False, max_length=50, help_text="Default: ANSWER_GENERATOR")


class CitationSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    document_id = serializers.IntegerField(source="hit.document_id")
    title = serializers.CharField(source="hit.document_title")
    uri = serializers.CharField(source="hit.uri")
    chunk_id = serializers.IntegerField(source="hit.chunk_id")
    text = serializers.CharField(source="hit.text")


class AnswerOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The answer's audit event (for feedback)")
    answer = serializers.CharField()
    citations = CitationSerializer(many=True)
    index_version = serializers.IntegerField(allow_null=True)
    generator = serializers.CharField()
    took_ms = serializers.FloatField()


class FeedbackInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(min_value=1, help_text="The id a search or answer returned")
    rating = serializers.ChoiceField(choices=["up", "down"])
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class FeedbackOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="event_id")
    rating = serializers.CharField()
    comment = serializers.CharField()


class FeedbackExportInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["evaluation", "fine-tuning"], default="evaluation")
