"""The models a process serves with, loaded before it accepts work: no first request waits for them.

Web processes warm up when gunicorn imports the WSGI application (before a worker
accepts connections); Celery worker processes when they start (``CELERY_IMPORTS``
registers the signal handlers). ``GET /api/v1/health`` reports the state.
"""

import logging
import time

from celery.signals import worker_init, worker_process_init
from django.conf import settings

from index_versions import embedding
from index_versions.selectors import index_version_active
from retrieval import reranking

logger = logging.getLogger(__name__)

_state = {"embedding": "not loaded", "reranker": "off"}


def _served_model() -> str:
    """The active version's embedding model (what queries are embedded with), else the configured one."""
    try:
        active = index_version_active()
    except Exception:  # noqa: BLE001 - the database may not be up yet; the configured model is a fine guess
        active = None
    return active.pipeline.embedding_model if active is not None else embedding.model_name()


def models_warm_up(*, documents: bool = False) -> dict[str, str]:
    """Load the embedding model (and the reranker, when configured) and run one pass through each.

    Queries may run on another backend than the documents' vectors (``embedding.query_identity``);
    ``documents`` (worker processes, which embed synced text) loads the vectors' own model too.
    """
    started = time.perf_counter()
    try:
        served = _served_model()
        embedding.embed_query("warm-up", model=served)
        if documents:
            embedding.embed_texts(["warm-up"], model=served)
        _state["embedding"] = "ready"
    except Exception as exc:
        logger.exception("embedding model failed to load")
        _state["embedding"] = f"failed: {type(exc).__name__}"
    if reranking.rerank_available():
        try:
            reranking.cross_encoder().predict([("warm", "up")], show_progress_bar=False)
            _state["reranker"] = "ready"
        except Exception as exc:
            logger.exception("reranker failed to load")
            _state["reranker"] = f"failed: {type(exc).__name__}"
    logger.info("models warmed up in %.1f s: %s", time.perf_counter() - started, _state)
    return dict(_state)


def models_state() -> dict[str, str]:
    return dict(_state)


def models_ready() -> bool:
    return _state["embedding"] == "ready" and _state["reranker"] in ("ready", "off")


@worker_process_init.connect
def _warm_pool_process(**_):
    if settings.MODELS_WARM_UP:
        models_warm_up(documents=True)


@worker_init.connect
def _warm_solo_worker(sender=None, **_):
    # A solo or threads pool runs tasks in this very process; a prefork pool's children warm up themselves.
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "") or str(getattr(sender, "pool_cls", ""))
    if settings.MODELS_WARM_UP and ("solo" in pool or "thread" in pool):
        models_warm_up(documents=True)
