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


def _as_numpy(value: Any, spec: tf.TensorSpec) -> np.ndarray:
  if spec.dtype == tf.string:
    encoded = [v.encode("utf-8") for v in value] if spec.shape.rank else value.encode("utf-8")
    return np.array(encoded, dtype=object).reshape([-1] if spec.shape.rank else [])
  return np.asarray(value, spec.dtype.as_numpy_dtype)


def _empty(spec: tf.TensorSpec) -> np.ndarray:
  shape = [0 if d is None else d for d in spec.shape]
  return np.full(shape, b"" if spec.dtype == tf.string else 0, spec.dtype.as_numpy_dtype)


def render_records(dataset: tf.data.Dataset, render_fn: RenderFn, task_name: str,
                   extra_signature: Mapping[str, tf.TensorSpec] | None = None
                   ) -> tf.data.Dataset:
  """Each record rendered in Python, in order; unusable ones counted and dropped.

  The Python call is a stateless `numpy_function` (its output depends on the record and
  its index alone), which lets tf.data save the position of a pipeline through it, so a
  resumed run continues from there (trainer.input_state) rather than replaying.
  """
  signature = dict(features.TEXT_SIGNATURE, **(extra_signature or {}))
  record_structure = dataset.element_spec

  def render(index, *flat_record):
    """[usable, then the signature's fields] of record `index`."""
    unusable = [np.bool_(False)] + [_empty(spec) for spec in signature.values()]
    try:
      python_record = to_python(tf.nest.pack_sequence_as(record_structure, list(flat_record)))
      if set(python_record) == {jsonl_source.JSON_FIELD}:
        python_record = json.loads(python_record[jsonl_source.JSON_FIELD])
    except UnicodeDecodeError as e:
      stats.count(task_name, f"{stats.SKIP_NOT_UTF8} (record {index}: {e.reason})")
      return unusable
    rendered = render_fn(python_record, int(index))
    if rendered is None:
      stats.count(task_name, SKIP_UNUSABLE)
      return unusable
    for example in stats.checked_text_examples(task_name, [rendered]):
      example.setdefault("choices", [])
      return [np.bool_(True)] + [_as_numpy(example[k], spec) for k, spec in signature.items()]
    return unusable

  def rendered_or_unusable(index, record):
    usable, *fields = tf.numpy_function(
        render, [index, *tf.nest.flatten(record)],
        [tf.bool] + [spec.dtype for spec in signature.values()], stateful=False)
    for field, spec in zip(fields, signature.values()):
      field.set_shape(spec.shape)
    return usable, dict(zip(signature, fields))

  return (dataset.enumerate().map(rendered_or_unusable)
          .filter(lambda usable, _: usable).map(lambda _, example: example))
