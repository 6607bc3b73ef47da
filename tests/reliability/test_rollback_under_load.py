"""Rollback under load: versions switched back and forth while clients search over real HTTP."""

import json
import threading
import urllib.error
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from index_versions.models import Chunk, IndexVersion, MembershipSpan
from index_versions.selectors import index_version_active
from index_versions.services.activation import index_version_activate
from tests.reliability.conftest import wait_for

CLIENTS = 16
ACTIVATIONS = 100
MODES = ("hybrid", "vector", "keyword")


def _corpus(edition: str) -> dict[str, str]:
    return {
        f"policy{i:02}.md": f"# Policy {i}\n\nThe {edition} edition of policy {i}: expenses, travel, leave and "
        f"security rules for team {i}. Approvals go to the {edition} desk."
        for i in range(12)
    }


def _post(url: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_searches_during_100_activations_never_fail_and_never_mix_versions(
    live_server, folder_source, write_folder, sync_now, grant, alice
):
    source = folder_source("policies", _corpus("first"))
    grant(source, user=alice)
    first = sync_now(source).index_version
    write_folder("policies", _corpus("second"))  # every document changes: the two versions share no revision
    second = sync_now(source).index_version
    assert first is not None and second is not None and first != second
    token = Token.objects.create(user=alice).key

    responses: list[tuple[int, dict, str]] = []  # (status, body, mode)
    lock = threading.Lock()
    done = threading.Event()

    def client(number: int) -> None:
        mode = MODES[number % len(MODES)]
        while not done.is_set():
            status, body = _post(
                f"{live_server.url}/api/v1/search", token, {"query": "travel expenses", "k": 5, "mode": mode}
            )
            with lock:
                responses.append((status, body, mode))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        for flip in range(ACTIVATIONS):
            index_version_activate(version=first if flip % 2 == 0 else second, reason="rollback under load")
            seen = len(responses)
            # A search completes between flips, so each version serves some while the other is being switched in.
            wait_for(lambda seen=seen: len(responses) > seen, timeout=60, interval=0.005)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=60)

    assert index_version_active() == second  # the hundredth activation, even
    assert len(responses) >= ACTIVATIONS
    failures = [(status, body) for status, body, _ in responses if status != 200]
    assert failures == []
    # Every chunk of a response is in the version that response reports: a revision of that version.
    chunk_revision = dict(Chunk.objects.values_list("pk", "revision_id"))
    spans = list(MembershipSpan.objects.values_list("revision_id", "valid_from", "valid_to"))

    def in_version(revision_id: int, version_id: int) -> bool:
        return any(r == revision_id and start <= version_id < end for r, start, end in spans)

    reported = {body["index_version"] for _, body, _ in responses}
    assert reported == {first.pk, second.pk}  # both versions served
    mixed = [
        (body["index_version"], hit["chunk_id"])
        for _, body, _ in responses
        for hit in body["results"]
        if not in_version(chunk_revision[hit["chunk_id"]], body["index_version"])
    ]
    assert mixed == []
    assert all(body["results"] for _, body, _ in responses)
    # The editions tell the versions apart in the text too.
    edition = {first.pk: "first", second.pk: "second"}
    assert all(
        f"{edition[body['index_version']]} edition" in hit["text"]
        for _, body, _ in responses
        for hit in body["results"]
    )
    assert IndexVersion.objects.count() == 2
