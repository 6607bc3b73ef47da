import math
import re

from rest_framework import serializers

from retrieval.models import VersionEvaluation
from retrieval.search import SearchFilters, SearchMode
from sources.metadata import KEY_PATTERN, MAX_STRING


class SearchFiltersSerializer(serializers.Serializer):
    modified_after = serializers.DateTimeField(required=False)
    modified_before = serializers.DateTimeField(required=False)
    document_types = serializers.ListField(
        child=serializers.RegexField(r"^\.?[A-Za-z0-9]{1,16}$"),
        required=False,
        max_length=50,
        help_text='File extensions, e.g. ["md", "pdf"]',
    )
    metadata = serializers.JSONField(
        required=False,
        help_text="Documents whose metadata has each key with the value, or one of the list's values: "
        '{"status": "open", "labels": ["billing", "refund"]}',
    )

    MAX_METADATA_KEYS = 10
    MAX_METADATA_VALUES = 50

    def validate_metadata(self, value):
        """``{key: value or [values]}`` -> ``((key, (values...)), ...)`` for :class:`SearchFilters`."""
        if not isinstance(value, dict) or not value:
            raise serializers.ValidationError("Must be a non-empty object of key: value pairs.")
        if len(value) > self.MAX_METADATA_KEYS:
            raise serializers.ValidationError(f"At most {self.MAX_METADATA_KEYS} keys.")
        pairs = []
        for key, wanted in value.items():
            if not re.match(KEY_PATTERN, str(key)):
                raise serializers.ValidationError(
                    f"Key {key[:70]!r} is invalid: 1-64 letters, digits, spaces or _ . : / -"
                )
            values = wanted if isinstance(wanted, list) else [wanted]
            if not values or len(values) > self.MAX_METADATA_VALUES:
                raise serializers.ValidationError(f"{key}: give 1 to {self.MAX_METADATA_VALUES} values.")
            for item in values:
                valid = isinstance(item, (str, int, float, bool)) and not (
                    (isinstance(item, str) and len(item) > MAX_STRING)
                    or (isinstance(item, float) and not math.isfinite(item))
                )
                if not valid:
                    raise serializers.ValidationError(
                        f"{key}: a value is a string (at most {MAX_STRING} characters), number or boolean, "
                        "or a list of those."
                    )
            pairs.append((key, tuple(values)))
        return tuple(sorted(pairs, key=lambda pair: pair[0]))


class SearchInputSerializer(serializers.Serializer):
    query = serializers.CharField(max_length=2000, trim_whitespace=True)
    k = serializers.IntegerField(min_value=1, default=10)
    mode = serializers.ChoiceField(choices=SearchMode.ALL, required=False, help_text="Default: hybrid")
    sources = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)
    filters = SearchFiltersSerializer(required=False)
    rerank = serializers.BooleanField(
        required=False, help_text="Re-order the best candidates with the CrossEncoder. Default: RERANK_DEFAULT"
    )
    recency_boost = serializers.BooleanField(
        required=False, help_text="Lift newer documents. Default: on when SEARCH_RECENCY_HALF_LIFE_DAYS > 0"
    )
    recency_half_life_days = serializers.FloatField(
        required=False,
        min_value=0.01,
        max_value=36500,
        help_text="Turns the recency boost on with this half-life (days). Default: SEARCH_RECENCY_HALF_LIFE_DAYS",
    )

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
            metadata=raw.get("metadata") or (),
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
    metadata = serializers.DictField(help_text="The document's metadata (ticket fields, front matter...)")


class SearchOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The search's audit event")
    results = SearchHitSerializer(many=True)
    index_version = serializers.IntegerField(allow_null=True)
    took_ms = serializers.FloatField()
    reranked = serializers.BooleanField(help_text="Results in CrossEncoder order, its scores as score")
    recency_half_life_days = serializers.FloatField(
        allow_null=True, help_text="The recency boost applied to the scores (null: none)"
    )


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


class StaleDuplicatesInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, help_text="Default: the active version")
    min_days = serializers.FloatField(
        required=False, default=0, min_value=0, max_value=36500, help_text="Only groups whose copies span more"
    )


class DuplicateCopySerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    title = serializers.CharField()
    uri = serializers.CharField()
    source_id = serializers.IntegerField()
    source_name = serializers.CharField()
    modified_at = serializers.DateTimeField(allow_null=True)
    is_canonical = serializers.BooleanField()


class StaleDuplicateGroupSerializer(serializers.Serializer):
    group = serializers.IntegerField(help_text="The canonical document's id")
    kind = serializers.CharField(help_text="exact or near")
    spread_days = serializers.SerializerMethodField(help_text="Newest minus oldest modified_at, in days")
    newest_modified_at = serializers.DateTimeField()
    oldest_modified_at = serializers.DateTimeField()
    canonical_is_newest = serializers.BooleanField(
        help_text="False when the canonical (authoritative) copy is older than another copy"
    )
    canonical = DuplicateCopySerializer()
    members = DuplicateCopySerializer(many=True, help_text="Every copy: the canonical first, then newest first")

    def get_spread_days(self, group) -> float:
        return round(group.spread.total_seconds() / 86400, 3)


class VersionEvaluationOutputSerializer(serializers.ModelSerializer):
    """A version's score on the evaluation gate's set (``retrieval.gate``); ``score`` null: not evaluated."""

    verdict = serializers.CharField(help_text="e.g. 'failed: nDCG@10 0.610 < 0.660 - 0.02 (version 11)'")

    class Meta:
        model = VersionEvaluation
        fields = [
            "id",
            "version",
            "trigger",
            "metric",
            "mode",
            "score",
            "baseline",
            "baseline_score",
            "tolerance",
            "passed",
            "query_count",
            "username",
            "set_path",
            "set_sha256",
            "reason",
            "verdict",
            "created_at",
        ]
