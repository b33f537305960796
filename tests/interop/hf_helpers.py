"""Shared pieces of the HuggingFace parity tests: tiny torch models, packed batches, masks."""
import math

import jax
import numpy as np
import seqio
import tensorflow as tf

from interop import hf_config
from trainer import partitioning

RULES = partitioning.logical_axis_rules()


def mesh_2x2x2():
  return partitioning.make_mesh(2, 2, 2)


def hf_model(hf_dict: dict, seed: int = 0):
  """A randomly initialised transformers model for config dict `hf_dict` (fp32, eager).

  Every tensor is redrawn (norm scales around 1, matrices ~ 1/sqrt(fan_in)) so that a
  swapped or mis-laid-out tensor changes the logits.
  """
  import torch  # pylint: disable=import-outside-toplevel
  import transformers  # pylint: disable=import-outside-toplevel
  torch.manual_seed(seed)
  kind = hf_config.model_kind(hf_dict)
  cls = {"t5": transformers.T5ForConditionalGeneration,
         "llama": transformers.LlamaForCausalLM}[kind]
  config_cls = {"t5": transformers.T5Config, "llama": transformers.LlamaConfig}[kind]
  fields = {k: v for k, v in hf_dict.items() if not k.startswith("_")}
  model = cls(config_cls(**fields, attn_implementation="eager")).float().eval()
  if kind == "t5":  # transformers 5 ties T5's head at construction; v1.1 keeps its own
    model.lm_head.weight = torch.nn.Parameter(model.shared.weight.detach().clone())
  with torch.no_grad():
    for name, param in model.named_parameters():
      if param.ndim == 1:
        param.copy_(1.0 + 0.2 * torch.randn_like(param))
      elif "relative_attention_bias" in name:
        param.normal_(0.0, 1.0)
      else:
        param.normal_(0.0, 1.0 / math.sqrt(param.shape[-1]))
  return model


def additive_mask(allowed: np.ndarray):
  """bool [b, 1, q, k] -> the float mask transformers adds to attention logits."""
  import torch  # pylint: disable=import-outside-toplevel
  return torch.from_numpy(np.where(allowed, 0.0, np.finfo(np.float32).min).astype(np.float32))


def packed_batch(converter: seqio.FeatureConverter, examples: list[dict], lengths: dict,
                 batch_size: int) -> dict:
  """The trainer's packed batch: seqio's own converter packing `examples`."""
  ds = tf.data.Dataset.from_generator(
      lambda: iter(examples),
      output_signature={k: tf.TensorSpec([None], tf.int32) for k in examples[0]})
  converted = converter(ds, lengths).batch(batch_size)
  return next(converted.as_numpy_iterator())


def random_examples(rng, vocab_size: int, count: int, inputs_len: int, targets_len: int):
  """Token lists (no zeros, eos id 1 at the end) of varied lengths."""
  def tokens(max_len):
    n = int(rng.integers(2, max_len + 1))
    return np.concatenate([rng.integers(2, vocab_size, n - 1), [1]]).astype(np.int32)
  return [{"inputs": tokens(inputs_len), "targets": tokens(targets_len)} for _ in range(count)]


def as_numpy(logits) -> np.ndarray:
  if isinstance(logits, jax.Array):
    return np.asarray(jax.device_get(logits))
  return logits.detach().numpy()
