"""Prefix LM, the objective of LM-adapted T5 (Lester et al. 2021, after Raffel et al.
2020's prefix-LM objective), as a seqio preprocessor: a chunk of text is split at a
random point; inputs are the prefix, targets the continuation.

With token budgets I (inputs) and T (targets), EOS excluded, chunks are
min(I + T, max(I, T) + 1) tokens, so the split point can vary: it is uniform over the
points leaving both halves non-empty and within their budgets. At I = T every split of a
full chunk is possible.
"""
import seqio
import tensorflow as tf

from tasks.pretrain import chunking


def chunk_length(inputs_budget: int, targets_budget: int) -> int:
  return min(inputs_budget + targets_budget, max(inputs_budget, targets_budget) + 1)


def split_point(length: tf.Tensor, inputs_budget: int, targets_budget: int,
                seed: tf.Tensor) -> tf.Tensor:
  """Prefix length, uniform in [max(1, length - T), min(length - 1, I)]."""
  low = tf.maximum(1, length - targets_budget)
  high = tf.minimum(length - 1, inputs_budget)
  return tf.random.stateless_uniform([], seed, minval=low, maxval=high + 1, dtype=tf.int32)


def preprocess(dataset: tf.data.Dataset, sequence_length, output_features, *, task_name: str
               ) -> tf.data.Dataset:
  """{"text"} documents -> {"inputs": prefix, "targets": continuation} (with EOS)."""
  vocabulary = output_features["targets"].vocabulary
  budgets = chunking.feature_lengths(sequence_length, ("inputs", "targets"), "prefix LM")
  length = chunk_length(budgets["inputs"], budgets["targets"])
  chunks = chunking.tokenize_and_chunk(dataset, vocabulary, length, task_name)

  @seqio.map_over_dataset(num_seeds=1)
  def split(example, seed):
    tokens = example[chunking.TOKENS]
    point = split_point(tf.size(tokens), budgets["inputs"], budgets["targets"], seed)
    return chunking.finish({"inputs": tokens[:point], "targets": tokens[point:]}, vocabulary)

  return split(chunks)

