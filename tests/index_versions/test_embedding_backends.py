"""Embedding backends and precisions: part of the model's identity, exported locally, never mixed."""

import numpy as np
import pytest

from index_versions import embedding, embedding_backends
from index_versions.models import Chunk, Embedding
from index_versions.services.activation import index_version_activate
from index_versions.services.building import index_version_rebuild, index_version_rebuild_run
from index_versions.services.pipelines import pipeline_current, pipeline_derive, pipeline_for_sync
from ragplatform import runtime
from ragplatform.exceptions import InvalidInput
from retrieval.search import search

MODEL = embedding.DEFAULT_MODEL_NAME
TEXTS = [
    "Deploy in waves of ten percent and watch the error rate.",
    "Expenses over 500 euros need a manager's approval.",
    "The on-call engineer answers pages within fifteen minutes.",
]
WIKI = {
    "deploy.md": "# Deploying\n\nDeploy in waves of ten percent and watch the error rate.",
    "expenses.md": "# Expenses\n\nExpenses over 500 euros need a manager's approval.",
}


def test_reference_backend_keeps_the_plain_identity_and_others_name_backend_and_precision(settings):
    assert embedding.model_name() == MODEL
    settings.EMBEDDING_BACKEND, settings.EMBEDDING_PRECISION = "onnx", "int8"
    assert embedding.model_name() == f"{MODEL} [onnx int8]"
    assert embedding.model_spec(f"{MODEL} [onnx int8]") == embedding.ModelSpec(MODEL, "onnx", "int8")
    settings.EMBEDDING_PRECISION = ""
    assert embedding.model_name() == f"{MODEL} [onnx fp32]"


def test_cuda_defaults_to_fp16_and_the_cpu_never_needs_it(settings):
    settings.EMBEDDING_DEVICE = "cuda"
    assert embedding.model_name() == f"{MODEL} [torch fp16]"
    settings.EMBEDDING_DEVICE = "cpu"
    assert embedding.model_name() == MODEL


@pytest.mark.parametrize("backend, precision", [("onnx", "fp16"), ("torch", "int8"), ("tensorflow", "fp32")])
def test_impossible_backend_and_precision_are_refused_with_what_is_allowed(settings, backend, precision):
    settings.EMBEDDING_BACKEND, settings.EMBEDDING_PRECISION = backend, precision
    with pytest.raises(InvalidInput, match="backend"):
        embedding.model_name()


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_exported_fp32_model_computes_the_torch_vectors(backend):
    reference = np.array(embedding.embed_texts(TEXTS))
    vectors = np.array(embedding.embed_texts(TEXTS, model=f"{MODEL} [{backend} fp32]"))
    assert vectors.shape == reference.shape
    assert (vectors * reference).sum(axis=1).min() > 0.9999


def test_queries_against_torch_vectors_run_on_onnx_and_get_the_same_vector(settings):
    query = "who approves expenses?"
    assert embedding.query_identity(MODEL) == f"{MODEL} [onnx fp32]"
    served = embedding.embed_query(query, model=MODEL)
    assert np.array_equal(served, embedding.embed_texts([query], model=f"{MODEL} [onnx fp32]")[0])
    reference = embedding.embed_texts([query], model=MODEL)[0]
    assert np.abs(served - reference).max() < 1e-5
    settings.EMBEDDING_QUERY_BACKEND = "same"
    assert embedding.query_identity(MODEL) == MODEL
    assert np.array_equal(embedding.embed_query(query, model=MODEL), reference)
    settings.EMBEDDING_QUERY_BACKEND = "onnx"
    assert embedding.query_identity(f"{MODEL} [onnx int8]") == f"{MODEL} [onnx int8]"  # its own backend already
    settings.EMBEDDING_DEVICE = "cuda"
    assert embedding.query_identity(MODEL) == MODEL  # a GPU runs the reference itself


def test_a_query_export_that_fails_falls_back_to_the_reference_backend(tmp_path, monkeypatch):
    (tmp_path / "models").write_text("not a folder: the ONNX export cannot be cached")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path))
    embedding._load.cache_clear()
    try:
        vector = embedding.embed_query("who approves expenses?", model=MODEL)
        assert embedding.query_identity(MODEL) == MODEL
        assert np.array_equal(vector, embedding.embed_texts(["who approves expenses?"], model=MODEL)[0])
    finally:
        embedding._query_export_failed.discard(MODEL)
        embedding._load.cache_clear()


def test_int8_model_is_close_to_fp32_and_ranks_the_same():
    reference = np.array(embedding.embed_texts(TEXTS))
    vectors = np.array(embedding.embed_texts(TEXTS, model=f"{MODEL} [onnx int8]"))
    assert (vectors * reference).sum(axis=1).min() > 0.95
    query = embedding.embed_query("who approves expenses?", model=f"{MODEL} [onnx int8]")
    assert int(np.argmax(vectors @ query)) == 1


def test_exports_are_cached_under_the_data_directory_and_reused():
    folder = embedding_backends.cache_dir(embedding.model_path(MODEL))
    embedding.encoder(f"{MODEL} [onnx int8]")
    files = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.onnx")}
    assert set(files) == {"model.onnx", "model_int8.onnx"}
    assert folder.is_relative_to(runtime.data_dir() / "models")
    encoder = embedding.encoder(f"{MODEL} [onnx int8]")
    again = embedding_backends.onnx_export(
        transformers_model=None, tokenizer=encoder.tokenizer, folder=folder, precision="int8"
    )  # the cached file is returned without touching the (absent) torch model
    assert again == folder / "model_int8.onnx"
    assert {path.name: path.stat().st_mtime_ns for path in folder.glob("*.onnx")} == files


def test_backend_setting_changes_new_pipelines_but_never_the_active_ones(folder_source, sync_now, settings):
    torch_version = sync_now(folder_source("wiki", WIKI)).index_version
    settings.EMBEDDING_BACKEND, settings.EMBEDDING_PRECISION = "onnx", "int8"
    assert pipeline_current().embedding_model == f"{MODEL} [onnx int8]"
    assert pipeline_current().key != torch_version.pipeline.key
    # Syncs extend the active version with its own pipeline: no onnx vector joins the torch ones.
    assert pipeline_for_sync() == torch_version.pipeline
    sync_now(folder_source("hr", {"leave.md": "# Leave\n\nAsk for leave two weeks ahead."}))
    assert not Embedding.objects.filter(model__contains="[onnx").exists()


def test_switching_backend_is_a_rebuild_that_embeds_every_chunk_again(folder_source, sync_now, grant, alice):
    source = folder_source("wiki", WIKI)
    grant(source, user=alice)
    torch_version = sync_now(source).index_version
    torch_vectors = set(Embedding.objects.filter(model=MODEL).values_list("pk", flat=True))

    pipeline = pipeline_derive(embedding_backend="onnx", embedding_precision="int8")
    assert pipeline.embedding_model == f"{MODEL} [onnx int8]"
    assert pipeline.chunker == torch_version.pipeline.chunker  # same weights: the same chunks
    rebuilt = index_version_rebuild_run(version_id=index_version_rebuild(pipeline=pipeline).pk)

    assert rebuilt.state == "ready"  # built beside the active version; activating is the operator's (and gate's)
    assert rebuilt.counts["embeddings_computed"] == rebuilt.counts["chunks"] == 2
    chunk_models = set(Chunk.objects.filter(pipeline=pipeline).values_list("embedding__model", flat=True))
    assert chunk_models == {f"{MODEL} [onnx int8]"}
    assert set(Embedding.objects.filter(model=MODEL).values_list("pk", flat=True)) == torch_vectors
    index_version_activate(version=rebuilt)
    assert search(user=alice, query="who approves expenses", k=1).results[0].document_title == "Expenses"


def test_rebuild_api_refuses_a_precision_the_backend_cannot_run(api, staff, folder_source, sync_now):
    sync_now(folder_source("wiki", WIKI))
    response = api(staff).post(
        "/api/v1/index-versions", {"embedding_backend": "onnx", "embedding_precision": "fp16"}, format="json"
    )
    assert response.status_code == 400
    assert "embedding_precision" in response.json()["error"]["details"]
