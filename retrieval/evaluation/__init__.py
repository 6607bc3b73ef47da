"""Retrieval quality, one feature in three modules: ``metrics`` (nDCG, recall, MRR), ``beir`` (a BEIR
dataset loaded and scored through the search selector, ``manage.py evaluate``) and ``gate`` (a sync's
new version activated only if it retrieves no worse than the active one)."""
