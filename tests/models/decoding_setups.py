"""Shared by the decoding tests: one initialised model per kind on 8 simulated devices,
prompts, and compiled decode functions built once per set of options (compiling is most
of what these tests cost)."""
import functools

import jax
import numpy as np
import optax

from models import decoding, scoring
from tests.model_configs import TINY_LLAMA, TINY_T5, model_for, random_batch
from trainer import compiled_inference, partitioning, train_state

RULES = partitioning.logical_axis_rules()
MAX_NEW = 7
# The decoder-only model is scanned: decoding must unscan its layers and parameters.
MODELS = {"t5": model_for(TINY_T5), "llama": model_for(TINY_LLAMA, scan_layers=True)}
# The same network decoded as a prefix-LM (bidirectional over its prompt).
PREFIX_LM = {"llama": model_for(TINY_LLAMA, scan_layers=True, prefix_lm=True)}


@functools.lru_cache(maxsize=None)
def sharded_params(kind: str):
  """(mesh of 8 devices, params, param shardings) of MODELS[kind]."""
  module = MODELS[kind].module
  mesh = partitioning.make_mesh()
  example = random_batch(module.config)
  _, shardings = train_state.state_shardings(module, optax.identity(), example, mesh, RULES)
  state = train_state.create_train_state(module, optax.identity(), example, shardings, mesh,
                                         RULES, seed=3)
  return mesh, state.params, shardings.params


def prompts_for(config, batch_size=8, seed=1):
  """Encoder inputs (T5) or BOS-led right-padded prompts of different lengths (Llama)."""
  rng = np.random.default_rng(seed)
  width = 9
  lengths = rng.integers(2, width + 1, size=batch_size).astype(np.int32)
  tokens = rng.integers(2, config.vocab_size, size=(batch_size, width)).astype(np.int32)
  tokens[np.arange(width)[None, :] >= lengths[:, None]] = 0
  if config.is_encoder_decoder:
    return {"encoder_input_tokens": tokens}
  tokens[:, 0] = decoding.BOS_ID
  return {"decoder_prompt_tokens": tokens, "decoder_prompt_lengths": lengths}


@functools.lru_cache(maxsize=None)
def generated(kind: str, eos_id: int = -1, bidirectional_prompt: bool = False,
              compute_dtype=None) -> decoding.DecodeOutput:
  """Greedy decoding of `prompts_for` (MAX_NEW tokens, by default never stopping early)."""
  mesh, params, shardings = sharded_params(kind)
  model = PREFIX_LM[kind] if bidirectional_prompt else MODELS[kind]
  run = compiled_inference.compile_generate(model, mesh, RULES, shardings,
                                            max_new_tokens=MAX_NEW, eos_id=eos_id,
                                            compute_dtype=compute_dtype)
  return jax.device_get(run(params, prompts_for(model.config), jax.random.key(0)))


def beam_searched(kind: str, prompts, **options) -> decoding.DecodeOutput:
  mesh, params, shardings = sharded_params(kind)
  return jax.device_get(compiled_inference.compile_beam_search(
      MODELS[kind], mesh, RULES, shardings, **options)(params, prompts))


def scores(kind: str, batch) -> scoring.TargetScores:
  mesh, params, shardings = sharded_params(kind)
  return jax.device_get(compiled_inference.compile_score(MODELS[kind], mesh, RULES, shardings)(
      params, batch))


@functools.lru_cache(maxsize=None)
def _forward(kind: str):
  module = MODELS[kind].module
  return jax.jit(lambda params, batch: module.apply({"params": params}, batch))


def prompt_then_generated(prompts, generated_tokens):
  """(each decoder prompt followed by its generated tokens [b, prompt width + n], the
  prompt positions as a 0/1 prefix mask)."""
  lengths = prompts["decoder_prompt_lengths"]
  b, n = generated_tokens.shape
  width = prompts["decoder_prompt_tokens"].shape[1] + n
  sequence = np.zeros((b, width), np.int32)
  prefix = np.zeros((b, width), np.int32)
  for row, length in enumerate(lengths):
    sequence[row, :length] = prompts["decoder_prompt_tokens"][row, :length]
    sequence[row, length:length + n] = generated_tokens[row]
    prefix[row, :length] = 1
  return sequence, prefix


def full_forward_logits(kind: str, prompts, generated_tokens, bidirectional_prompt=False):
  """Logits predicting each generated token, from one uncached pass per batch."""
  return forward_logits(_forward(kind), MODELS[kind].config,
                        jax.device_get(sharded_params(kind)[1]), prompts, generated_tokens,
                        bidirectional_prompt)


def forward_logits(forward, config, params, prompts, generated_tokens,
                   bidirectional_prompt=False):
  """`full_forward_logits` through forward(params, batch) -> logits of any model."""
  b, n = generated_tokens.shape
  if config.is_encoder_decoder:
    inputs = np.concatenate([np.zeros((b, 1), np.int32), generated_tokens[:, :-1]], axis=1)
    batch = {"encoder_input_tokens": prompts["encoder_input_tokens"],
             "decoder_input_tokens": inputs,
             "decoder_target_tokens": np.ones_like(inputs)}  # only marks rows valid
    return np.asarray(forward(params, batch))
  inputs, prefix = prompt_then_generated(prompts, generated_tokens)
  lengths = prompts["decoder_prompt_lengths"]
  valid = (np.arange(inputs.shape[1])[None, :] < (lengths + n)[:, None]).astype(np.int32)
  batch = {"decoder_input_tokens": inputs, "decoder_target_tokens": valid}
  if bidirectional_prompt:
    batch["decoder_causal_attention"] = prefix
  logits = np.asarray(forward(params, batch))
  return np.stack([logits[row, length - 1:length - 1 + n] for row, length in enumerate(lengths)])
