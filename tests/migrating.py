"""Moving the test database between migrations, for the tests of an upgrade in place."""

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrated(targets):
    """The database migrated (forwards or backwards) to ``targets``; returns the apps of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest():
    """The newest migration of every app: where a test leaves the database."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
