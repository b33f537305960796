"""T5 span corruption (Raffel et al. 2020, section 3.3.4), as a seqio preprocessor.

Of a chunk of L tokens, round(L * noise_density) are noise (at least 1, at most L - 1),
in round(noise / mean_noise_span_length) spans (at least 1). The noise tokens and the
non-noise tokens are each split into that many non-empty spans at random (a uniformly
random composition), and the spans alternate, non-noise first. Inputs: the chunk with
each noise span replaced by one sentinel; targets: each noise span after its sentinel.
Sentinel i is `<extra_id_i>`, id vocab_size - 1 - i, so the sentinels count down from the
top of the vocabulary:

    chunk    a b c d e f g h i
    inputs   a b <extra_id_0> e f g <extra_id_1>
    targets  <extra_id_0> c d <extra_id_1> h i

The chunk length is the longest whose inputs and targets (plus EOS) fit the task's
feature lengths; at {'inputs': 128, 'targets': 32} it is 141 tokens.
"""
import numpy as np
import seqio
import tensorflow as tf

from tasks import vocab
from tasks.pretrain import chunking

NOISE_DENSITY = 0.15
MEAN_NOISE_SPAN_LENGTH = 3.0


def span_counts(length: tf.Tensor, noise_density: float = NOISE_DENSITY,
                mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH
                ) -> tuple[tf.Tensor, tf.Tensor]:
  """(noise tokens, noise spans) of chunks of `length` tokens (int32, any shape)."""
  length = tf.cast(length, tf.float32)
  num_noise = tf.clip_by_value(tf.round(length * noise_density), 1, length - 1)
  num_spans = tf.maximum(tf.round(num_noise / mean_noise_span_length), 1)
  return tf.cast(num_noise, tf.int32), tf.cast(num_spans, tf.int32)


def chunk_length(inputs_budget: int, targets_budget: int, num_sentinels: int,
                 noise_density: float = NOISE_DENSITY,
                 mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH) -> int:
  """The longest chunk whose corrupted inputs and targets fit the budgets (EOS excluded)
  with no more spans than sentinels."""
  lengths = np.arange(2, 4 * (inputs_budget + targets_budget) + 2)
  noise, spans = (t.numpy() for t in span_counts(tf.constant(lengths), noise_density,
                                                 mean_noise_span_length))
  fits = ((lengths - noise + spans <= inputs_budget) & (noise + spans <= targets_budget)
          & (spans <= num_sentinels))
  if not fits.any():
    raise ValueError(
        f"span corruption: no chunk fits inputs of {inputs_budget} and targets of "
        f"{targets_budget} tokens (plus EOS) at noise density {noise_density} and mean span "
        f"{mean_noise_span_length} with {num_sentinels} sentinels; raise the lengths")
  return int(lengths[fits].max())


def random_composition(total: tf.Tensor, parts: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """`parts` positive integers summing to `total`, uniformly among all such: a random
  choice of `parts - 1` of the `total - 1` gaps between items as the cut points."""
  is_cut = tf.range(total - 1) < parts - 1
  order = tf.argsort(tf.random.stateless_uniform(tf.shape(is_cut), seed))
  starts_a_part = tf.concat([[0], tf.cast(tf.gather(is_cut, order), tf.int32)], axis=0)
  part_of_item = tf.cumsum(starts_a_part)
  return tf.math.unsorted_segment_sum(tf.ones_like(part_of_item), part_of_item, parts)


def noise_mask(length: tf.Tensor, seed: tf.Tensor, noise_density: float = NOISE_DENSITY,
               mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH) -> tf.Tensor:
  """Boolean [length]: which tokens are noise. Needs length >= 2."""
  length = tf.cast(length, tf.int32)
  num_noise, num_spans = span_counts(length, noise_density, mean_noise_span_length)
  noise_seed, kept_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  noise_lengths = random_composition(num_noise, num_spans, noise_seed)
  kept_lengths = random_composition(length - num_noise, num_spans, kept_seed)
  span_lengths = tf.reshape(tf.stack([kept_lengths, noise_lengths], axis=1), [-1])
  span_of_token = tf.repeat(tf.range(2 * num_spans), span_lengths)
  return span_of_token % 2 == 1


def replace_spans(tokens: tf.Tensor, mask: tf.Tensor, first_sentinel: int) -> tf.Tensor:
  """Each run of masked tokens becomes one sentinel, counting down from first_sentinel."""
  follows_masked = tf.concat([[False], mask[:-1]], axis=0)
  starts_run = mask & ~follows_masked
  sentinels = first_sentinel + 1 - tf.cumsum(tf.cast(starts_run, tf.int32))
  replaced = tf.where(starts_run, sentinels, tokens)
  return tf.boolean_mask(replaced, ~(mask & follows_masked))


def preprocess(dataset: tf.data.Dataset, sequence_length, output_features, *, task_name: str,
               noise_density: float = NOISE_DENSITY,
               mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH) -> tf.data.Dataset:
  """{"text"} documents -> {"inputs", "targets"} span-corrupted chunks (with EOS)."""
  vocabulary = output_features["targets"].vocabulary
  sentinels = vocab.sentinel_ids(vocabulary)
  budgets = chunking.feature_lengths(sequence_length, ("inputs", "targets"), "span corruption")
  length = chunk_length(budgets["inputs"], budgets["targets"], len(sentinels), noise_density,
                        mean_noise_span_length)
  chunks = chunking.tokenize_and_chunk(dataset, vocabulary, length, task_name)

  @seqio.map_over_dataset(num_seeds=1)
  def corrupt(example, seed):
    tokens = example[chunking.TOKENS]
    mask = noise_mask(tf.size(tokens), seed, noise_density, mean_noise_span_length)
    return chunking.finish({"inputs": replace_spans(tokens, mask, sentinels[0]),
                            "targets": replace_spans(tokens, ~mask, sentinels[0])}, vocabulary)

  return corrupt(chunks)

