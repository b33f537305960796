"""BM25 finds the document holding a unique fact, and its index is built once and reused."""
import pytest

from tools.retrieval import bm25
from tools.retrieval import index_cache
from tools.retrieval.collection import CollectionError, Document

DOCS = (
    Document("d1", "Harbor town", "The harbor town trades fish and salt along the coast."),
    Document("d2", "Velmora Institute", "The Velmora Institute was founded in 1873 by the "
             "glassmaker Quenna Tarrow."),
    Document("d3", "Salt roads", "Old salt roads crossed the hills to the harbor."),
    Document("d4", "Glassmaking", "Glassmakers heat sand until it melts and then blow it."),
)


def test_finds_the_document_with_the_unique_fact():
  retriever = bm25.BM25Retriever.build(DOCS)
  hits = retriever.search("Who founded the Velmora Institute?", k=2)
  assert [h.rank for h in hits] == [1, 2]
  assert hits[0].document.id == "d2"
  assert hits[0].score > hits[1].score >= 0.0


def test_batch_agrees_with_single_queries_and_k_is_capped():
  retriever = bm25.BM25Retriever.build(DOCS)
  queries = ["salt roads hills", "melting sand glass"]
  batch = retriever.search_batch(queries, k=10)
  assert [len(hits) for hits in batch] == [4, 4]
  assert batch == [retriever.search(q, k=10) for q in queries]
  assert batch[0][0].document.id == "d3"
  assert retriever.search("zzz qqq", k=2)[0].score == 0.0  # no shared term
  with pytest.raises(ValueError, match="k=0"):
    retriever.search("salt", k=0)


def test_index_is_saved_once_and_loaded_back(tmp_path):
  built = bm25.BM25Retriever.build(DOCS, cache_dir=tmp_path)
  saved = index_cache.index_dir(tmp_path, bm25.KIND, DOCS)
  assert not built.loaded_from_cache and saved.is_dir()
  assert [p.name for p in tmp_path.iterdir()] == [saved.name]  # no temporary left over
  loaded = bm25.BM25Retriever.build(DOCS, cache_dir=tmp_path)
  assert loaded.loaded_from_cache
  query = "glassmaker founded institute"
  assert loaded.search(query, k=4) == built.search(query, k=4)
  changed = DOCS[:3]  # another collection gets its own index
  assert not bm25.BM25Retriever.build(changed, cache_dir=tmp_path).loaded_from_cache
  assert len(list(tmp_path.iterdir())) == 2


def test_empty_index_and_damaged_cache_fail_clearly(tmp_path):
  with pytest.raises(CollectionError, match="empty index"):
    bm25.BM25Retriever.build([])
  saved = index_cache.index_dir(tmp_path, bm25.KIND, DOCS)
  saved.mkdir()
  with pytest.raises(CollectionError, match="unreadable BM25 index"):
    bm25.BM25Retriever.build(DOCS, cache_dir=tmp_path)


def test_command_line_search_and_its_errors(tmp_path, capsys):
  from tools.retrieval import __main__ as cli
  from tools.retrieval import collection
  path = tmp_path / "docs.jsonl"
  collection.write_collection(path, DOCS)
  assert cli.main([str(path), "Velmora founder", "--k", "2", "--cache-dir",
                   str(tmp_path / "cache")]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 2 and lines[0].startswith("1\t") and "\td2\tVelmora Institute" in lines[0]
  path.write_text('{"id": "x"}\n')
  assert cli.main([str(path), "q"]) == 2
  assert f"{path}:1: missing field(s)" in capsys.readouterr().err
