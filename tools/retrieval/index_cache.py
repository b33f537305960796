"""Where a built index lives: a directory named after the retriever and the collection's
fingerprint, so it is built once and reused until the collection changes.

A directory appears only complete: the index is written into a temporary sibling and
renamed into place, so a run killed while saving leaves nothing that looks like an index.
"""
import os
import pathlib
import shutil
import tempfile
from typing import Callable, Sequence

from tools.retrieval.collection import CollectionError, Document, fingerprint


def index_dir(cache_dir: str | os.PathLike, kind: str, documents: Sequence[Document]
              ) -> pathlib.Path:
  return pathlib.Path(cache_dir) / f"{kind}-{fingerprint(documents)}"


def save_atomically(target: pathlib.Path, write: Callable[[pathlib.Path], None]) -> None:
  """Calls `write(tmp_dir)`, then renames tmp_dir to `target` (if another process got
  there first, its equal index is kept)."""
  target.parent.mkdir(parents=True, exist_ok=True)
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
  try:
    write(tmp)
    os.rename(tmp, target)
  except OSError:
    if not target.is_dir():
      raise
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def check_not_empty(documents: Sequence[Document], kind: str) -> None:
  if not documents:
    raise CollectionError(f"{kind}: cannot build an empty index (no documents)")
