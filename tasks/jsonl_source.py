"""A seqio source over JSON-lines files, one file per split (fixtures, local exports).

Records travel through tf.data as one JSON string each ({"json": ...}), since their
fields may be nested; `records.render_records` parses them back. Every line is parsed
when the dataset is built, so a malformed line fails with its file and line number.
"""
import json
import pathlib
from typing import Iterator, Mapping

from etils import epath
import seqio
import tensorflow as tf

from tasks import json_text

JSON_FIELD = "json"


def numbered_rows(path: str | pathlib.Path) -> Iterator[tuple[int, dict]]:
  """(line number, JSON object) per non-blank line; a line that is not a JSON object
  fails naming the file and line.

  Lines end at "\n" only: JSON strings may hold U+2028, U+0085 and the other characters
  `str.splitlines` also breaks at.
  """
  path = epath.Path(path)
  text = json_text.decode_utf8(path.read_bytes(), str(path))
  for line_number, line in enumerate(text.split("\n"), 1):
    if not line.strip():
      continue
    row = json_text.loads(line, f"{path}:{line_number}", one_line=True)
    if not isinstance(row, dict):
      raise json_text.BadDataError(f"{path}:{line_number}: expected a JSON object per line")
    yield line_number, row


def read_jsonl(path: str | pathlib.Path) -> list[dict]:
  return [row for _, row in numbered_rows(path)]


def jsonl_source(files_by_split: Mapping[str, str | pathlib.Path]) -> seqio.FunctionDataSource:
  files = {split: epath.Path(p) for split, p in files_by_split.items()}

  def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None) -> tf.data.Dataset:
    del shuffle_files, seed
    rows = read_jsonl(files[split])
    return tf.data.Dataset.from_tensor_slices(
        {JSON_FIELD: tf.constant([json.dumps(r) for r in rows], tf.string, shape=[len(rows)])})

  return seqio.FunctionDataSource(dataset_fn, splits=tuple(files))
