"""Output features and the preprocessors shared by every task."""
import functools
from typing import Any, Mapping, Sequence

import seqio
import tensorflow as tf

from tasks import loss_mask
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
      "choices": tf.RaggedTensor.from_row_lengths(
          tf.constant([c for e in examples for c in e.get("choices", [])], tf.string,
                      shape=[sum(len(e.get("choices", [])) for e in examples)]),
          tf.constant([len(e.get("choices", [])) for e in examples], tf.int64,
                      shape=[len(examples)])),
  })


def output_features(vocabulary: seqio.Vocabulary | None = None) -> dict[str, seqio.Feature]:
  vocabulary = vocabulary or vocab.default_vocabulary()
  return {"inputs": seqio.Feature(vocabulary, add_eos=True),
          "targets": seqio.Feature(vocabulary, add_eos=True)}


def tokenize_count_and_trim(dataset: tf.data.Dataset, sequence_length, output_features,
                            task_name: str, loss_masked: bool = False) -> tf.data.Dataset:
  """Tokenizes the output features (keeping `<name>_pretokenized` copies), counts in
  `tasks.stats` the examples the length limits cut, trims, and appends EOS.

  loss_masked: the texts mark spans to leave out of the loss (tasks.loss_mask); the
  pretokenized copies are the plain texts and the targets' mask, trimmed with them and 1 on
  EOS, is the feature `loss_mask.MASK_FEATURE`.

  It does what seqio's `tokenize` + `append_eos_after_trim` do, plus the counting, in one
  map that autograph never converts: with 29 tasks per mixture, tracing three converted
  maps per task cost ~15 s before the first batch.
  """
  limits = {k: sequence_length[k] - int(f.add_eos) for k, f in output_features.items()
            if sequence_length and sequence_length.get(k) is not None}
  seen = stats.pipeline_counter(task_name, stats.SEEN)
  cut = {k: stats.pipeline_counter(task_name, f"{stats.TRUNCATED} {k}") for k in limits}

  @tf.autograph.experimental.do_not_convert
  def process(example):
    out = dict(example)
    updates = [seen.assign_add(1)]
    for name, feature in output_features.items():
      mask = None
      if not loss_masked:
        ids = feature.vocabulary.encode_tf(example[name])
        out[f"{name}_pretokenized"] = example[name]
      elif name == "targets":
        ids, mask = loss_mask.tokenize_masked(feature.vocabulary, example[name])
        out[f"{name}_pretokenized"] = loss_mask.plain(example[name])
      else:
        out[f"{name}_pretokenized"] = loss_mask.plain(example[name])
        ids = feature.vocabulary.encode_tf(out[f"{name}_pretokenized"])
      if name in limits:
        updates.append(cut[name].assign_add(tf.cast(tf.size(ids) > limits[name], tf.int64)))
        ids = ids[:limits[name]]
        mask = None if mask is None else mask[:limits[name]]
      if feature.add_eos:
        ids = tf.concat([ids, [feature.vocabulary.eos_id]], axis=0)
        mask = None if mask is None else tf.concat([mask, [1]], axis=0)
      out[name] = ids
      if mask is not None:
        out[loss_mask.MASK_FEATURE] = mask
    with tf.control_dependencies(updates):
      return {k: tf.identity(v) for k, v in out.items()}

  return dataset.map(process, num_parallel_calls=tf.data.AUTOTUNE)


def preprocessors(task_name: str, loss_masked: bool = False) -> list:
  return [functools.partial(tokenize_count_and_trim, task_name=task_name,
                            loss_masked=loss_masked)]
