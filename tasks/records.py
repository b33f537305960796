"""Rendering records of a tf.data source in Python (Jinja or FLAN templates need Python).

A render function maps (record, index) to {"inputs", "targets", "choices", ...} or None
for a record it cannot use; None and bad text are counted in `tasks.stats`, never dropped
silently.
"""
import json
from typing import Any, Callable, Mapping

import numpy as np
import tensorflow as tf

from tasks import features
from tasks import jsonl_source
from tasks import stats

RenderFn = Callable[[Mapping[str, Any], int], Mapping[str, Any] | None]
SKIP_UNUSABLE = "skipped: unusable record (no label, answer or target)"


def to_python(value: Any) -> Any:
  """numpy/bytes values from `as_numpy_iterator` as plain Python (str, int, list, dict).

  Raises UnicodeDecodeError on bytes that are not UTF-8; callers count those.
  """
  if isinstance(value, dict):
    return {k: to_python(v) for k, v in value.items()}
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, np.ndarray):
    return [to_python(v) for v in value.tolist()] if value.ndim else to_python(value.item())
  if isinstance(value, (list, tuple)):
    return [to_python(v) for v in value]
  if isinstance(value, np.generic):
    return value.item()
  return value


def render_records(dataset: tf.data.Dataset, render_fn: RenderFn, task_name: str,
                   extra_signature: Mapping[str, tf.TensorSpec] | None = None
                   ) -> tf.data.Dataset:
  signature = dict(features.TEXT_SIGNATURE, **(extra_signature or {}))

  def generate():
    for index, record in enumerate(dataset.as_numpy_iterator()):
      try:
        python_record = to_python(record)
        if set(python_record) == {jsonl_source.JSON_FIELD}:
          python_record = json.loads(python_record[jsonl_source.JSON_FIELD])
      except UnicodeDecodeError as e:
        stats.count(task_name, f"{stats.SKIP_NOT_UTF8} (record {index}: {e.reason})")
        continue
      rendered = render_fn(python_record, index)
      if rendered is None:
        stats.count(task_name, SKIP_UNUSABLE)
        continue
      for example in stats.checked_text_examples(task_name, [rendered]):
        example.setdefault("choices", [])
        yield {k: example[k] for k in signature}

  return tf.data.Dataset.from_generator(generate, output_signature=signature)
