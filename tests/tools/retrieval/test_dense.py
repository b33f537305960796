"""Dense retrieval with the MiniLM port finds a paraphrased fact no word of which BM25
could match, and its document vectors are cached and reused."""
import numpy as np
import pytest

from tools.retrieval import dense
from tools.retrieval import index_cache
from tools.retrieval.collection import CollectionError, Document

DOCS = (
    Document("d1", "Harbor", "Fishing boats unload their catch at dawn."),
    Document("d2", "Velmora Institute", "Quenna Tarrow started the Velmora Institute."),
    Document("d3", "Weather", "Heavy rain is expected over the hills tomorrow."),
)


def test_semantic_match_and_cache_round_trip(minilm_encoder, tmp_path):
  built = dense.DenseRetriever.build(DOCS, minilm_encoder, cache_dir=tmp_path)
  hits = built.search("a storm is coming to the mountains", k=2)
  assert hits[0].document.id == "d3" and hits[0].score > hits[1].score
  assert [h.rank for h in hits] == [1, 2]
  loaded = dense.DenseRetriever.build(DOCS, minilm_encoder, cache_dir=tmp_path)
  assert loaded.loaded_from_cache and not built.loaded_from_cache
  np.testing.assert_array_equal(loaded.embeddings, built.embeddings)
  assert loaded.search("who founded the institute", k=1)[0].document.id == "d2"


def test_empty_and_mismatched_index_fail(minilm_encoder, tmp_path):
  with pytest.raises(CollectionError, match="empty index"):
    dense.DenseRetriever.build([], minilm_encoder)
  dense.DenseRetriever.build(DOCS, minilm_encoder, cache_dir=tmp_path)
  saved = index_cache.index_dir(tmp_path, minilm_encoder.name, DOCS)
  (saved / dense.IDS_FILE).write_text('["d1"]')
  with pytest.raises(CollectionError, match="does not match the collection"):
    dense.DenseRetriever.build(DOCS, minilm_encoder, cache_dir=tmp_path)
