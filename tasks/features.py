"""Output features and the preprocessors shared by every task."""
import functools

import numpy as np
import seqio
import tensorflow as tf

from tasks import stats
from tasks import vocab

TEXT_SIGNATURE = {
    "inputs": tf.TensorSpec([], tf.string),
    "targets": tf.TensorSpec([], tf.string),
    # Answer choices of a classification example (empty otherwise), kept for rank
    # classification; every task has the feature so tasks can be mixed.
    "choices": tf.TensorSpec([None], tf.string),
}


def output_features(vocabulary: seqio.Vocabulary | None = None) -> dict[str, seqio.Feature]:
  vocabulary = vocabulary or vocab.default_vocabulary()
  return {"inputs": seqio.Feature(vocabulary, add_eos=True),
          "targets": seqio.Feature(vocabulary, add_eos=True)}


def count_truncated(dataset: tf.data.Dataset, sequence_length, output_features,
                    task_name: str) -> tf.data.Dataset:
  """Counts (in `tasks.stats`) examples that the length limits will cut, per feature.

  Runs after tokenization and before the trim, so cut examples are never silent.
  """
  if not sequence_length:
    return dataset
  names = [k for k in output_features if sequence_length.get(k) is not None]

  def record(*too_long):
    for name, flag in zip(names, too_long):
      if flag:
        stats.count(task_name, f"{stats.TRUNCATED} {name}")
    stats.count(task_name, stats.SEEN)
    return np.int32(0)

  def check(example):
    flags = [tf.size(example[k]) + int(output_features[k].add_eos) > sequence_length[k]
             for k in names]
    done = tf.numpy_function(record, flags, tf.int32, stateful=True)
    with tf.control_dependencies([done]):
      return {k: tf.identity(v) for k, v in example.items()}

  return dataset.map(check, num_parallel_calls=tf.data.AUTOTUNE)


def preprocessors(task_name: str) -> list:
  return [seqio.preprocessors.tokenize,
          functools.partial(count_truncated, task_name=task_name),
          seqio.preprocessors.append_eos_after_trim]
