"""Ranking metrics over document keys: graded relevance in, one score out."""

import math


def ndcg_at(ranked: list[str], relevant: dict[str, int], n: int) -> float:
    dcg = sum((2 ** relevant.get(doc, 0) - 1) / math.log2(i + 2) for i, doc in enumerate(ranked[:n]))
    ideal = sorted(relevant.values(), reverse=True)[:n]
    idcg = sum((2**rel - 1) / math.log2(i + 2) for i, rel in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], n: int) -> float:
    return len(set(ranked[:n]) & set(relevant)) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], n: int) -> float:
    return next((1 / (i + 1) for i, doc in enumerate(ranked[:n]) if doc in relevant), 0.0)


def scores(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    return {
        "nDCG@10": ndcg_at(ranked, relevant, 10),
        "recall@10": recall_at(ranked, relevant, 10),
        "recall@100": recall_at(ranked, relevant, 100),
        "MRR@10": mrr_at(ranked, relevant, 10),
    }
