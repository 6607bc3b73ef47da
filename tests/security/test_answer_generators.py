"""A request may name only the generators the operator allows (ANSWER_GENERATORS_ALLOWED; default the configured one).

Which server an answer's documents are sent to is the operator's choice: with the
extractive default, naming ``openai`` must not send them to an LLM.
"""

from acl.models import AuditEvent
from tests.retrieval.test_generators import FakeChatServer

WIKI = {"deploy.md": "# Deploying\n\nDeploys roll out in three waves with a bake time between waves."}


def ask(client, **extra):
    return client.post("/api/v1/answer", {"query": "how are deploys rolled out?", **extra}, format="json")


def test_a_generator_that_is_not_allowed_is_refused_before_any_document_leaves(
    api, alice, grant, sync_folders, settings
):
    (wiki,) = sync_folders(wiki=WIKI)
    grant(wiki, user=alice)
    assert (settings.ANSWER_GENERATOR, settings.ANSWER_GENERATORS_ALLOWED) == ("extractive", ["extractive"])
    with FakeChatServer("Three waves [1].") as llm:
        settings.LLM_BASE_URL, settings.LLM_MODEL = llm.url, "test-model"
        refused = ask(api(alice), generator="openai")
        assert refused.status_code == 400, refused.content
        error = refused.json()["error"]
        assert (error["code"], error["details"]) == ("generator_not_allowed", {"generator": ["not allowed"]})
        assert "extractive" in error["message"] and "ANSWER_GENERATORS_ALLOWED" in error["message"]
        assert llm.requests == []
        (event,) = AuditEvent.objects.filter(action="request.refused")
        assert (event.actor, event.details["code"]) == (alice, "generator_not_allowed")
        assert not AuditEvent.objects.filter(action="answer").exists()

        assert ask(api(alice), generator="extractive").json()["generator"] == "extractive"
        settings.ANSWER_GENERATORS_ALLOWED = ["extractive", "openai"]
        allowed = ask(api(alice), generator="openai")
        assert allowed.status_code == 200, allowed.content
        assert allowed.json()["generator"] == "openai" and len(llm.requests) == 1
    # The configured generator is always allowed, whatever the list says.
    settings.ANSWER_GENERATORS_ALLOWED = []
    assert ask(api(alice)).json()["generator"] == "extractive"
