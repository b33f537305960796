"""Dense retrieval: documents and queries embedded by a sentence encoder, ranked by cosine
similarity (the encoder's vectors are unit length, so a dot product)."""
import json
import pathlib
from typing import Protocol, Sequence

import numpy as np

from tools.retrieval import index_cache
from tools.retrieval.collection import CollectionError, Document
from tools.retrieval import hits
from tools.retrieval.hits import Hit

EMBEDDINGS_FILE = "embeddings.npy"
IDS_FILE = "ids.json"


class SentenceEncoder(Protocol):
  name: str  # names the cache directory: another encoder's vectors are never reused

  def encode(self, texts: Sequence[str]) -> np.ndarray:
    ...


class DenseRetriever:
  """Top-k documents by embedding similarity; document vectors are computed once into
  `cache_dir/<encoder name>-<fingerprint>/` and loaded from there afterwards."""

  def __init__(self, documents: Sequence[Document], embeddings: np.ndarray,
               encoder: SentenceEncoder, loaded_from_cache: bool = False):
    self.documents = tuple(documents)
    self.embeddings = embeddings
    self.encoder = encoder
    self.loaded_from_cache = loaded_from_cache

  @classmethod
  def build(cls, documents: Sequence[Document], encoder: SentenceEncoder,
            cache_dir: str | pathlib.Path | None = None) -> "DenseRetriever":
    index_cache.check_not_empty(documents, encoder.name)
    saved = (index_cache.index_dir(cache_dir, encoder.name, documents)
             if cache_dir is not None else None)
    if saved is not None and saved.is_dir():
      return cls(documents, _load(saved, documents), encoder, loaded_from_cache=True)
    embeddings = np.asarray(encoder.encode([d.indexed_text() for d in documents]),
                            np.float32)
    if saved is not None:
      def write(directory: pathlib.Path):
        np.save(directory / EMBEDDINGS_FILE, embeddings)
        (directory / IDS_FILE).write_text(json.dumps([d.id for d in documents]))
      index_cache.save_atomically(saved, write)
    return cls(documents, embeddings, encoder)

  def search(self, query: str, k: int) -> list[Hit]:
    return self.search_batch([query], k)[0]

  def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
    hits.check_k(k)
    scores = np.asarray(self.encoder.encode(list(queries)), np.float32) @ self.embeddings.T
    k = min(k, len(self.documents))
    out = []
    for row in scores:
      best = np.argsort(-row, kind="stable")[:k]
      out.append([Hit(self.documents[i], float(row[i]), rank)
                  for rank, i in enumerate(best, 1)])
    return out


def _load(saved: pathlib.Path, documents: Sequence[Document]) -> np.ndarray:
  try:
    embeddings = np.load(saved / EMBEDDINGS_FILE)
    ids = json.loads((saved / IDS_FILE).read_text())
  except (OSError, ValueError) as e:
    raise CollectionError(f"{saved}: unreadable dense index ({e}); delete the directory "
                          "to rebuild it") from e
  if ids != [d.id for d in documents] or embeddings.shape[0] != len(documents):
    raise CollectionError(f"{saved}: index does not match the collection; delete the "
                          "directory to rebuild it")
  return embeddings
