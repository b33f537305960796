"""Document collections: JSON lines of {"id", "title", "text"}, one document per line.

Reading checks every line, so a collection that would index wrongly (a missing field, a
non-string value, a repeated id, no documents at all) fails naming the file and line.
"""
import dataclasses
import hashlib
import json
import pathlib
from typing import Iterable, Sequence

FIELDS = ("id", "title", "text")


class CollectionError(ValueError):
  """A document collection that cannot be read or indexed."""


@dataclasses.dataclass(frozen=True)
class Document:
  id: str
  title: str
  text: str

  def indexed_text(self) -> str:
    """What retrievers index and embed: the title, then the text."""
    return f"{self.title}\n{self.text}"

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), ensure_ascii=False)


def _document(row, where: str) -> Document:
  if not isinstance(row, dict):
    raise CollectionError(f"{where}: expected a JSON object with fields {list(FIELDS)}")
  missing = [f for f in FIELDS if f not in row]
  if missing:
    raise CollectionError(f"{where}: missing field(s) {missing} (has {sorted(row)})")
  for field in FIELDS:
    if not isinstance(row[field], str):
      raise CollectionError(f"{where}: field {field!r} must be a string, got "
                            f"{type(row[field]).__name__}")
  if not row["id"].strip():
    raise CollectionError(f"{where}: empty id")
  if not (row["title"].strip() or row["text"].strip()):
    raise CollectionError(f"{where}: document {row['id']!r} has neither title nor text")
  return Document(row["id"], row["title"], row["text"])


def read_collection(path: str | pathlib.Path) -> tuple[Document, ...]:
  """Every document of a JSONL collection, in file order (blank lines are skipped)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise CollectionError(f"{path}: no such document collection")
  try:
    text = path.read_text(encoding="utf-8")
  except UnicodeDecodeError as e:
    raise CollectionError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
  documents, first_line_of = [], {}
  for line_number, line in enumerate(text.splitlines(), 1):
    if not line.strip():
      continue
    where = f"{path}:{line_number}"
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      raise CollectionError(f"{where}: malformed JSON: {e.msg} (column {e.colno})") from None
    document = _document(row, where)
    if document.id in first_line_of:
      raise CollectionError(f"{where}: id {document.id!r} repeats line "
                            f"{first_line_of[document.id]}")
    first_line_of[document.id] = line_number
    documents.append(document)
  if not documents:
    raise CollectionError(f"{path}: the collection holds no documents")
  return tuple(documents)


def write_collection(path: str | pathlib.Path, documents: Iterable[Document]) -> None:
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(d.to_json() + "\n" for d in documents), encoding="utf-8")


def fingerprint(documents: Sequence[Document]) -> str:
  """A digest of the documents' content and order: an index cached under it is valid for
  exactly this collection."""
  digest = hashlib.sha256()
  for document in documents:
    digest.update(document.to_json().encode("utf-8") + b"\n")
  return digest.hexdigest()[:16]
