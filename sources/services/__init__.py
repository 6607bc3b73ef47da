"""Writes on sources, one module per responsibility: ``crud`` (create, update, delete),
``schedules`` (pause and resume of scheduled syncs) and ``uploads`` (files of upload
sources). The sync itself orchestrates every app and lives above them, in :mod:`ingest`.
"""
