"""Counts of what the pipeline dropped or cut, so nothing is lost silently.

Each key is (task name, reason). `python -m tasks show` and the input-pipeline benchmark
print them; tests read them.
"""
import collections
import threading
from typing import Iterable, Iterator, Mapping

import tensorflow as tf

_lock = threading.Lock()
_counts: collections.Counter = collections.Counter()
# Counters bumped inside tf.data pipelines (no Python call per example).
_variables: dict[tuple[str, str], tf.Variable] = {}

SKIP_EMPTY_TARGET = "skipped: empty target"
SKIP_NOT_UTF8 = "skipped: not UTF-8"
TRUNCATED = "truncated"  # followed by the feature name, e.g. "truncated inputs"
SEEN = "seen"


def count(task: str, reason: str, n: int = 1) -> None:
  with _lock:
    _counts[(task, reason)] += n


def pipeline_counter(task: str, reason: str) -> tf.Variable:
  """An int64 variable a tf.data map can `assign_add` to; read back by `counts`."""
  with _lock:
    if (task, reason) not in _variables:
      _variables[(task, reason)] = tf.Variable(0, dtype=tf.int64, trainable=False,
                                               name="count")
    return _variables[(task, reason)]


def counts(task: str | None = None) -> dict[tuple[str, str], int]:
  with _lock:
    merged = collections.Counter(_counts)
    for key, variable in _variables.items():
      merged[key] += int(variable.numpy())
    return {k: v for k, v in merged.items() if v and (task is None or k[0] == task)}


def reset() -> None:
  with _lock:
    _counts.clear()
    for variable in _variables.values():
      variable.assign(0)


def _as_text(value) -> str | None:
  if isinstance(value, bytes):
    try:
      return value.decode("utf-8")
    except UnicodeDecodeError:
      return None
  return value


def checked_text_examples(task: str, examples: Iterable[Mapping]) -> Iterator[dict]:
  """Passes on examples with valid `inputs`/`targets` text; counts the ones it drops."""
  for example in examples:
    out = dict(example)
    bad = None
    for field in ("inputs", "targets"):
      text = _as_text(out[field])
      if text is None:
        bad = f"{SKIP_NOT_UTF8} ({field})"
        break
      out[field] = text
    if bad is None and not out["targets"].strip():
      bad = SKIP_EMPTY_TARGET
    if bad:
      count(task, bad)
      continue
    yield out
