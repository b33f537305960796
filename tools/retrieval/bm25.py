"""Sparse retrieval: Okapi BM25 (bm25s, Lucene's scoring variant) over title and text."""
import pathlib
from typing import Sequence

from tools.retrieval import index_cache
from tools.retrieval.collection import CollectionError, Document
from tools.retrieval import hits
from tools.retrieval.hits import Hit


def _bm25s():
  """bm25s, imported on first use: it imports jax, which starts the XLA backend, and
  importing this module must not (eval.py --multiprocess initialises jax.distributed
  after its imports)."""
  import bm25s  # pylint: disable=import-outside-toplevel
  return bm25s

KIND = "bm25"
STOPWORDS = "en"


def _tokenize(texts: Sequence[str], return_ids: bool):
  return _bm25s().tokenize(list(texts), stopwords=STOPWORDS, return_ids=return_ids,
                        show_progress=False)


class BM25Retriever:
  """Top-k documents of a collection for a text query, by BM25 score.

  `build` indexes once into `cache_dir/bm25-<fingerprint>/` (bm25s's own save format)
  and later builds over the same collection load that index instead.
  """

  def __init__(self, documents: Sequence[Document], index: "bm25s.BM25",
               loaded_from_cache: bool = False):
    self.documents = tuple(documents)
    self._index = index
    self.loaded_from_cache = loaded_from_cache

  @classmethod
  def build(cls, documents: Sequence[Document],
            cache_dir: str | pathlib.Path | None = None) -> "BM25Retriever":
    index_cache.check_not_empty(documents, KIND)
    saved = (index_cache.index_dir(cache_dir, KIND, documents)
             if cache_dir is not None else None)
    if saved is not None and saved.is_dir():
      return cls(documents, _load(saved, len(documents)), loaded_from_cache=True)
    index = _bm25s().BM25()
    index.index(_tokenize([d.indexed_text() for d in documents], return_ids=True),
                show_progress=False)
    if saved is not None:
      index_cache.save_atomically(saved, index.save)
    return cls(documents, index)

  def search(self, query: str, k: int) -> list[Hit]:
    return self.search_batch([query], k)[0]

  def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
    """min(k, collection size) hits per query, best first; a query sharing no term with
    the collection gets score-0 hits."""
    hits.check_k(k)
    k = min(k, len(self.documents))
    rows, scores = self._index.retrieve(_tokenize(queries, return_ids=False), k=k,
                                        show_progress=False, backend_selection="numpy")
    return [[Hit(self.documents[int(i)], float(s), rank)
             for rank, (i, s) in enumerate(zip(row, row_scores), 1)]
            for row, row_scores in zip(rows, scores)]


def _load(saved: pathlib.Path, num_documents: int) -> "bm25s.BM25":
  try:
    index = _bm25s().BM25.load(str(saved))
  except (OSError, ValueError, KeyError) as e:
    raise CollectionError(f"{saved}: unreadable BM25 index ({e}); delete the directory "
                          "to rebuild it") from e
  if index.scores["num_docs"] != num_documents:
    raise CollectionError(f"{saved}: index holds {index.scores['num_docs']} documents, the "
                          f"collection {num_documents}; delete the directory to rebuild it")
  return index
