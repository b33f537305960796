"""T0-style rank classification: score every answer choice, pick the best.

`expand_choices` turns each example with choices into one example per choice (same
inputs, the choice as target) carrying `idx` = [example, choice] and `is_correct`. The
model scores each one (sum of target-token log-probs, as T0 does); the metric groups the
scores by example and checks whether the argmax is the right choice. Registered as
`suite_<type>_rank` for the classification types (run them with seqio's Evaluator and a
score_fn).
"""
from typing import Sequence

import numpy as np
import tensorflow as tf


def expand_choices(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """One example per answer choice; examples without choices are dropped (they cannot be
  rank-classified)."""

  @tf.autograph.experimental.do_not_convert
  def per_choice(index, example):
    choices = example["choices"]
    n = tf.size(choices, out_type=tf.int64)
    return tf.data.Dataset.from_tensor_slices({
        "inputs": tf.fill([n], example["inputs"]),
        "targets": choices,
        "choices": tf.tile(tf.expand_dims(choices, 0), [n, 1]),
        "idx": tf.stack([tf.fill([n], index), tf.range(n)], axis=1),
        "is_correct": tf.equal(choices, example["targets"]),
    })

  return dataset.enumerate().flat_map(per_choice)


def postprocess_target(output, example=None, is_target=False):
  """Targets become (example index, choice index, is correct); predictions pass through."""
  if is_target and example is not None:
    return int(example["idx"][0]), int(example["idx"][1]), bool(example["is_correct"])
  return output


def rank_accuracy(targets: Sequence[tuple[int, int, bool]], scores: Sequence[float]
                  ) -> dict[str, float]:
  """Accuracy of the argmax choice per example; scores are summed target log-probs."""
  best: dict[int, tuple[float, bool]] = {}
  for (example, _, correct), score in zip(targets, np.asarray(scores, dtype=np.float64)):
    if example not in best or score > best[example][0]:
      best[example] = (float(score), correct)
  hits = sum(correct for _, correct in best.values())
  return {"rank_accuracy": 100.0 * hits / max(len(best), 1)}
