"""Batches from seqio for a training run: deterministic, per host, resumable by step."""
import jax
import numpy as np
import seqio


def training_dataset(mixture_or_task_name: str, task_feature_lengths: dict,
                     feature_converter: seqio.FeatureConverter, batch_size: int, seed: int,
                     split: str = "train"):
  """An infinite, shuffled, batched tf.data pipeline of this host's share of the batch.

  The same seed gives the same sequence of batches, so a resumed run skips the batches it
  has already consumed and continues exactly where it stopped.
  """
  if batch_size % jax.process_count():
    raise ValueError(f"BATCH_SIZE={batch_size} is not divisible by the "
                     f"{jax.process_count()} processes")
  return seqio.get_dataset(
      mixture_or_task_name, task_feature_lengths, feature_converter, dataset_split=split,
      shuffle=True, num_epochs=None, seed=seed,
      shard_info=seqio.ShardInfo(jax.process_index(), jax.process_count()),
      batch_size=batch_size // jax.process_count(), verbose=False)


def example_batch(element_spec) -> dict:
  """Zeros shaped like one batch: enough for `module.init` to know every parameter shape."""
  return {k: np.zeros(v.shape, v.dtype.as_numpy_dtype) for k, v in element_spec.items()}


def to_global_arrays(host_batch: dict, shardings: dict) -> dict:
  return {k: jax.make_array_from_process_local_data(shardings[k], v)
          for k, v in host_batch.items()}
