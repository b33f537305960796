"""Feature converters that carry a per-token loss mask of the targets into the loss weights.

A task may give, beside `targets`, the feature MASK_FEATURE (as long as `targets`: 1 on a
token to train on, 0 on one to leave out, e.g. the tool observations of a ReAct trajectory;
tasks/loss_mask.py). The converter multiplies it into `decoder_loss_weights`, so the loss
(models/losses.py through `ModelKind.loss_sums`) gives those tokens zero loss and gradient.
Without the feature, the converters' output is seqio's.

The mask rides through seqio's conversion inside the target ids (a masked token's id
raised by _MASKED_OFFSET), so packing, the shift into decoder inputs and a decoder-only
model's concatenation of inputs and targets keep it aligned with its token in every
converter; the ids are restored after.
"""
import gin
import seqio
import tensorflow as tf

MASK_FEATURE = "targets_loss_mask"  # tasks.loss_mask.MASK_FEATURE (models/ imports no tasks/)
_MASKED_OFFSET = 1 << 24  # above any vocabulary's ids, below int32's limit
_TOKEN_FEATURES = ("decoder_target_tokens", "decoder_input_tokens")


def _fold(example):
  out = {k: v for k, v in example.items() if k != MASK_FEATURE}
  out["targets"] = tf.where(example[MASK_FEATURE] > 0, example["targets"],
                            example["targets"] + _MASKED_OFFSET)
  return out


def _unfold(example):
  out = dict(example)
  masked = example["decoder_target_tokens"] >= _MASKED_OFFSET
  out["decoder_loss_weights"] = tf.where(masked, 0, example["decoder_loss_weights"])
  for name in _TOKEN_FEATURES:
    out[name] = tf.math.floormod(example[name], _MASKED_OFFSET)
  return out


class LossMasked:
  """Mixed into a seqio feature converter (before it). apply_loss_mask=False ignores the
  mask (evaluation: decoding and scoring read whole targets)."""

  def __init__(self, *args, apply_loss_mask: bool = True, **kwargs):
    self.apply_loss_mask = apply_loss_mask
    super().__init__(*args, **kwargs)

  def __call__(self, ds: tf.data.Dataset, task_feature_lengths):
    if MASK_FEATURE not in ds.element_spec:
      return super().__call__(ds, task_feature_lengths)
    if not self.apply_loss_mask:
      return super().__call__(ds.map(lambda ex: {k: v for k, v in ex.items()
                                                 if k != MASK_FEATURE}),
                              task_feature_lengths)
    converted = super().__call__(ds.map(_fold, num_parallel_calls=tf.data.AUTOTUNE),
                                 task_feature_lengths)
    return converted.map(_unfold, num_parallel_calls=tf.data.AUTOTUNE)


@gin.configurable(module="models")
class EncDecFeatureConverter(LossMasked, seqio.EncDecFeatureConverter):
  """seqio's, with the loss mask."""


@gin.configurable(module="models")
class PrefixLMFeatureConverter(LossMasked, seqio.DecoderFeatureConverter):
  """seqio's DecoderFeatureConverter (a prefix LM over inputs + targets), with the loss mask."""
