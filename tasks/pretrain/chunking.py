"""Shared by the objectives: documents -> token chunks, and the finished example features.

Documents are tokenized and concatenated, `DOCS_PER_CONCAT` at a time, and the stream is
cut into chunks of a fixed number of tokens, as T5 prepares C4 (no separator between
documents), so short documents (a gloss, a review) do not each become a mostly-padded
example. The last chunk of each group may be shorter.
"""
from typing import Mapping

import seqio
import tensorflow as tf

from tasks import stats
from tasks.pretrain import corpora

DOCS_PER_CONCAT = 64
TOKENS = "tokens"
SKIP_SHORT_CHUNK = "skipped: chunk shorter than 2 tokens"


def feature_lengths(sequence_length: Mapping[str, int] | None, names: tuple[str, ...],
                    objective: str) -> dict[str, int]:
  """Token budgets without EOS; the objectives size their chunks from them."""
  missing = [n for n in names if not sequence_length or not sequence_length.get(n)]
  if missing:
    raise ValueError(f"{objective} needs a length for {missing} (got {sequence_length}): "
                     "its chunk length is derived from the feature lengths")
  budgets = {n: int(sequence_length[n]) - 1 for n in names}  # room for EOS
  if min(budgets.values()) < 1:
    raise ValueError(f"{objective}: every feature length must be at least 2 (one token plus "
                     f"EOS); got {dict(sequence_length)}")
  return budgets


def tokenize_and_chunk(dataset: tf.data.Dataset, vocabulary: seqio.Vocabulary,
                       chunk_length: int, task_name: str, min_length: int = 2
                       ) -> tf.data.Dataset:
  """{"text"} documents -> {"tokens"} chunks of at most `chunk_length` tokens, in order.

  Chunks shorter than `min_length` (a one-token tail) are dropped and counted in
  `tasks.stats` under SKIP_SHORT_CHUNK.
  """
  skipped = stats.pipeline_counter(task_name, SKIP_SHORT_CHUNK)

  @tf.autograph.experimental.do_not_convert
  def encode(example):
    return vocabulary.encode_tf(example[corpora.TEXT_FEATURE])

  @tf.autograph.experimental.do_not_convert
  def split(documents):
    stream = documents.flat_values
    n = tf.size(stream, out_type=tf.int64)
    limits = tf.minimum(tf.range(chunk_length, n + chunk_length, chunk_length,
                                 dtype=tf.int64), n)
    return tf.RaggedTensor.from_row_limits(stream, limits)

  @tf.autograph.experimental.do_not_convert
  def as_example(chunk):
    tokens = chunk.to_tensor() if isinstance(chunk, tf.RaggedTensor) else chunk
    return {TOKENS: tf.cast(tokens, tf.int32)}

  @tf.autograph.experimental.do_not_convert
  def long_enough(example):
    keep = tf.size(example[TOKENS]) >= min_length
    with tf.control_dependencies([skipped.assign_add(tf.cast(~keep, tf.int64))]):
      return tf.identity(keep)

  return (dataset.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
          .ragged_batch(DOCS_PER_CONCAT).map(split).unbatch()
          .map(as_example).filter(long_enough))


def finish(ids_by_feature: Mapping[str, tf.Tensor], vocabulary: seqio.Vocabulary
           ) -> dict[str, tf.Tensor]:
  """Appends EOS and keeps `<feature>_pretokenized`, the decoded text (sentinels spelt
  `<extra_id_i>`), for `python -m tasks show` and evaluation."""
  out = {}
  for name, ids in ids_by_feature.items():
    out[f"{name}_pretokenized"] = vocabulary.decode_tf(ids)
    out[name] = tf.concat([ids, [vocabulary.eos_id]], axis=0)
  return out
