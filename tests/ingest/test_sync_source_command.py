import io

import pytest
from django.core.management import CommandError, call_command

from sources.models import SyncJob


def test_sync_source_command_syncs_inline_with_a_progress_bar(folder_source):
    source = folder_source("wiki", {"a.md": "# A\n\nText.", "b.md": "# B\n\nMore.", "empty.md": ""})
    out = io.StringIO()
    call_command("sync_source", str(source.pk), stdout=out)
    output = out.getvalue()
    assert "3/3" in output and "100%" in output  # tqdm's bar
    assert "partial:" in output and "empty.md: empty file" in output
    assert SyncJob.objects.get().status == SyncJob.Status.PARTIAL


def test_sync_source_command_refuses_an_unknown_source(db):
    with pytest.raises(CommandError, match="no source with id 999"):
        call_command("sync_source", "999")
