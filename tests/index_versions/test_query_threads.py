"""Web processes embed queries with EMBEDDING_QUERY_THREADS threads (index_versions.embedding.query_threads_set)."""

import torch
from django.test import override_settings

from index_versions.embedding import query_threads_set


def test_query_threads_follow_the_setting():
    before = torch.get_num_threads()
    try:
        with override_settings(EMBEDDING_QUERY_THREADS=2):
            query_threads_set()
            assert torch.get_num_threads() == 2
        with override_settings(EMBEDDING_QUERY_THREADS=1):
            query_threads_set()
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
