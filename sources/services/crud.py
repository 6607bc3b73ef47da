"""Creating, changing and deleting sources; a source's config is checked by its connector."""

from django.db import IntegrityError, transaction

from ragplatform.exceptions import ErrorCode, InvalidInput
from sources.connectors import ConfigError, get_connector
from sources.models import Source

_EDITABLE_FIELDS = {"name", "kind", "config", "enabled", "sync_interval_minutes"}


def _validated_config(kind: str, config) -> dict:
    try:
        return get_connector(kind).validate_config(config)
    except ConfigError as exc:
        field = "kind" if set(exc.details) == {"kind"} else "config"
        raise InvalidInput(
            f"Invalid {field}: {exc}", code=exc.code or ErrorCode.INVALID_CONFIG, details={field: exc.details}
        ) from None


@transaction.atomic
def source_create(
    *, name: str, kind: str, config: dict, enabled: bool = True, sync_interval_minutes: int | None = None
) -> Source:
    config = _validated_config(kind, config)
    try:
        with transaction.atomic():  # the unique name index decides, also between concurrent requests
            return Source.objects.create(
                name=name, kind=kind, config=config, enabled=enabled, sync_interval_minutes=sync_interval_minutes
            )
    except IntegrityError:
        raise _duplicate_name(name) from None


def _duplicate_name(name: str) -> InvalidInput:
    return InvalidInput(
        f"A source named {name!r} already exists.", code=ErrorCode.DUPLICATE, details={"name": ["already exists"]}
    )


@transaction.atomic
def source_update(*, source: Source, data: dict) -> Source:
    unknown = set(data) - _EDITABLE_FIELDS
    if unknown:
        raise InvalidInput("Unknown fields.", details={name: ["not editable"] for name in sorted(unknown)})
    source = Source.objects.select_for_update().get(pk=source.pk)
    kind = data.get("kind", source.kind)
    if "config" in data or "kind" in data:
        source.config = _validated_config(kind, data.get("config", source.config))
        source.kind = kind
    if "name" in data:
        source.name = data["name"]
    for field in ("enabled", "sync_interval_minutes"):
        if field in data:
            setattr(source, field, data[field])
    try:
        with transaction.atomic():
            source.save()
    except IntegrityError:
        raise _duplicate_name(source.name) from None
    return source


@transaction.atomic
def source_delete(*, source: Source) -> None:
    """Delete the source with its documents, grants and jobs, from every index version."""
    source.delete()
