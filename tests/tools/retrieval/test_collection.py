"""Collections read back what was written; every malformed collection fails naming the
file and line."""
import json

import pytest

from tools.retrieval import collection
from tools.retrieval.collection import CollectionError, Document


def _write_lines(tmp_path, *lines):
  path = tmp_path / "docs.jsonl"
  path.write_text("\n".join(lines) + "\n", encoding="utf-8")
  return path


def test_round_trip_keeps_order_and_unicode(tmp_path):
  docs = (Document("a", "Åland", "Islands."), Document("b", "B", "Second text."))
  path = tmp_path / "sub" / "docs.jsonl"
  collection.write_collection(path, docs)
  assert collection.read_collection(path) == docs
  assert collection.fingerprint(docs) != collection.fingerprint(docs[::-1])


def test_missing_file_is_named(tmp_path):
  with pytest.raises(CollectionError, match="nope.jsonl: no such document collection"):
    collection.read_collection(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("bad_line, message", [
    ('{"id": "x", "title": "t"', "malformed JSON"),
    ('["x", "t", "u"]', "expected a JSON object"),
    ('{"id": "x", "title": "t"}', r"missing field\(s\) \['text'\]"),
    ('{"id": 3, "title": "t", "text": "u"}', "field 'id' must be a string, got int"),
    ('{"id": " ", "title": "t", "text": "u"}', "empty id"),
    ('{"id": "y", "title": "", "text": " "}', "neither title nor text"),
    ('{"id": "a", "title": "t", "text": "u"}', "id 'a' repeats line 1"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad_line, message):
  good = json.dumps({"id": "a", "title": "A", "text": "first"})
  path = _write_lines(tmp_path, good, "", bad_line)
  with pytest.raises(CollectionError, match=message) as info:
    collection.read_collection(path)
  assert f"{path}:3:" in str(info.value)


def test_empty_collection_and_non_utf8_fail(tmp_path):
  with pytest.raises(CollectionError, match="holds no documents"):
    collection.read_collection(_write_lines(tmp_path, "", "  "))
  path = tmp_path / "latin1.jsonl"
  path.write_bytes('{"id": "a", "title": "café", "text": "x"}\n'.encode("latin-1"))
  with pytest.raises(CollectionError, match="not UTF-8"):
    collection.read_collection(path)
