"""The dashboard's health: the database, the broker and the live Celery workers per queue."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from ragplatform.celery import app as celery_app


@dataclass(frozen=True)
class ServiceCheck:
    name: str
    ok: bool
    detail: str


def database_check() -> ServiceCheck:
    """One round trip to PostgreSQL, with the server's version to show it is the real one."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
    except Exception as exc:  # noqa: BLE001 - a health check reports, never raises
        return ServiceCheck("Database", False, f"unreachable: {type(exc).__name__}")
    return ServiceCheck("Database", True, f"PostgreSQL {version}")


def broker_check(*, timeout: float = 2.0) -> ServiceCheck:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # noqa: BLE001
        return ServiceCheck("Broker", False, f"unreachable: {type(exc).__name__}")
    return ServiceCheck("Broker", True, "Redis reachable")


def expected_queues() -> list[str]:
    """The queues tasks are routed to: each needs at least one live worker."""
    queues = {settings.CELERY_TASK_DEFAULT_QUEUE}
    queues.update(route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route)
    return sorted(queues)


@dataclass(frozen=True)
class QueueWorkers:
    queue: str
    workers: list[str]


def workers_by_queue(*, timeout: float = 1.0) -> list[QueueWorkers] | None:
    """Live workers per queue, as the workers themselves answer over the broker; ``None`` if it cannot be asked.

    A broadcast ``active_queues`` waits ``timeout`` for replies: a worker that does
    not answer in time counts as absent, which is what an operator needs to know.
    """
    try:
        replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception:  # noqa: BLE001 - the broker is down: the broker check says so
        return None
    consumers: dict[str, list[str]] = {queue: [] for queue in expected_queues()}
    for hostname, queues in sorted(replies.items()):
        for queue in queues or []:
            consumers.setdefault(queue["name"], []).append(hostname)
    return [QueueWorkers(queue, workers) for queue, workers in sorted(consumers.items())]
