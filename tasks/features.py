"""Output features and the preprocessors shared by every task."""
import functools
from typing import Any, Mapping, Sequence

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


def dataset_from_examples(examples: Sequence[Mapping[str, Any]]) -> tf.data.Dataset:
  """Text examples (already rendered in Python, which is fast) as a tf.data source.

  Slicing in-memory tensors costs far less per example than a Python generator.
  """
  return tf.data.Dataset.from_tensor_slices({
      "inputs": tf.constant([e["inputs"] for e in examples], tf.string, shape=[len(examples)]),
      "targets": tf.constant([e["targets"] for e in examples], tf.string,
                             shape=[len(examples)]),
      "choices": tf.ragged.constant([list(e.get("choices", [])) for e in examples],
                                    dtype=tf.string, ragged_rank=1)
                 if examples else tf.ragged.constant([], dtype=tf.string, ragged_rank=1),
  })


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
  limits = {k: sequence_length[k] - int(output_features[k].add_eos)
            for k in output_features if sequence_length.get(k) is not None}
  seen = stats.pipeline_counter(task_name, stats.SEEN)
  cut = {k: stats.pipeline_counter(task_name, f"{stats.TRUNCATED} {k}") for k in limits}

  def check(example):
    updates = [seen.assign_add(1)]
    updates += [cut[k].assign_add(tf.cast(tf.size(example[k]) > limit, tf.int64))
                for k, limit in limits.items()]
    with tf.control_dependencies(updates):
      return {k: tf.identity(v) for k, v in example.items()}

  return dataset.map(check, num_parallel_calls=tf.data.AUTOTUNE)


def preprocessors(task_name: str) -> list:
  return [seqio.preprocessors.tokenize,
          functools.partial(count_truncated, task_name=task_name),
          seqio.preprocessors.append_eos_after_trim]
