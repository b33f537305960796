"""Targets with spans left out of the loss: the text the tools write in a ReAct trajectory.

A target text marks those spans between TOGGLE characters (trained, masked, trained, ...).
`tokenize_masked` encodes each span on its own, as the ReAct loop appends tool text to the
model's tokens (tools/react.py), and gives the task feature MASK_FEATURE beside `targets`:
1 on a trained token, 0 on a masked one. The model kinds' feature converters
(models/loss_masked_converter.py) fold it into `decoder_loss_weights`.

A seqio Mixture keeps only its output features and needs one structure from every task, so
a mixture holding a masked task is a `LossMaskMixture`: it keeps MASK_FEATURE and gives every
task without one a mask of ones (its loss is unchanged).
"""
import seqio
import tensorflow as tf

MASK_FEATURE = "targets_loss_mask"
TOGGLE = "\ue000"  # a private-use character, never in a task's text


def masked(text: str) -> str:
  """`text` as a span to leave out of the loss."""
  return f"{TOGGLE}{text}{TOGGLE}"


def plain(text):
  """The text without its marks (a Python or a tf string)."""
  if isinstance(text, str):
    return text.replace(TOGGLE, "")
  return tf.strings.regex_replace(text, TOGGLE, "")


def tokenize_masked(vocabulary: seqio.Vocabulary, text: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
  """(ids, mask) of a marked scalar string: each span encoded alone, mask 0 on odd spans.

  A SentencePiece model starts every encoding with a space (its dummy prefix), so a span's
  own leading space is dropped first, as the ReAct loop does when it appends " <text>".
  """
  spans = tf.strings.split(text, TOGGLE)
  if isinstance(vocabulary, seqio.SentencePieceVocabulary):
    spans = tf.strings.regex_replace(spans, "^ ", "")
  encoded = vocabulary.encode_tf(spans)
  masked_span = tf.math.floormod(tf.range(tf.size(spans)), 2) == 1
  mask = tf.repeat(tf.where(masked_span, 0, 1), encoded.row_lengths())
  return tf.cast(encoded.flat_values, tf.int32), tf.cast(mask, tf.int32)


class LossMaskMixture(seqio.Mixture):
  """A mixture that carries MASK_FEATURE, ones for the tasks that have none."""

  def get_task_dataset(self, task, output_feature_keys, *args, **kwargs):
    dataset = super().get_task_dataset(task, set(output_feature_keys) | {MASK_FEATURE},
                                       *args, **kwargs)
    if MASK_FEATURE in dataset.element_spec:
      return dataset

    def with_ones(example):
      return {**example, MASK_FEATURE: tf.ones_like(example["targets"], tf.int32)}
    return dataset.map(with_ones, num_parallel_calls=tf.data.AUTOTUNE)
