"""Search under the caller's ACL: types, the statement builder, and the search selector."""

from retrieval.search.selectors import hybrid_search, leg_connections_close, recency_boosted, search, vector_search
from retrieval.search.statement import SearchStatement, vector_literal
from retrieval.search.types import (
    NO_FILTERS,
    NearestChunks,
    SearchFilters,
    SearchHit,
    SearchMode,
    SearchOutcome,
    SearchPlan,
)

__all__ = [
    "NO_FILTERS",
    "NearestChunks",
    "SearchFilters",
    "SearchHit",
    "SearchMode",
    "SearchOutcome",
    "SearchPlan",
    "SearchStatement",
    "hybrid_search",
    "leg_connections_close",
    "recency_boosted",
    "search",
    "vector_literal",
    "vector_search",
]
