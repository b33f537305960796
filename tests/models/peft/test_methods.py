"""Each PEFT method on both model kinds: the paper's initialisation leaves the outputs at
the base model's, the split is exact, merging is exact, bad targets fail at configuration."""
import dataclasses

import flax.linen as nn
import jax
import numpy as np
import pytest

from models import make_model, peft
from models.peft import param_trees
from tests.model_configs import TINY_LLAMA, TINY_T5, random_batch

CONFIGS = {"t5": TINY_T5, "llama": TINY_LLAMA,
           "llama_scanned": dataclasses.replace(TINY_LLAMA, scan_layers=True)}
METHODS = {
    "lora": lambda: peft.LoRA(rank=4),
    "lora_all": lambda: peft.LoRA(targets=r".*(attention/(query|key|value|out)|mlp/w.*)",
                                  rank=2),
    "ia3": peft.IA3,
    "bitfit": peft.BitFit,
    "houlsby": lambda: peft.Adapters("houlsby", bottleneck_dim=8),
    "pfeiffer": lambda: peft.Adapters("pfeiffer", bottleneck_dim=8),
}


FAST = {("llama_scanned", "lora"), ("t5", "houlsby"), ("t5", "ia3")}


def cases(methods):
  """(config, method) pairs; all but a few carry the slow mark (one compilation each)."""
  return [pytest.param(c, m, marks=() if (c, m) in FAST else pytest.mark.slow)
          for c in sorted(CONFIGS) for m in methods]


def init(model, seed=0):
  return nn.unbox(jax.jit(lambda k: model.module.init(k, model.init_batch())["params"])(
      jax.random.key(seed)))


def logits(model, params, batch):
  return np.asarray(jax.jit(lambda p: model.module.apply({"params": p}, batch))(params))


def perturbed(params, scale=0.1, seed=1):
  """Every leaf moved, so an identity that held only at the initial values shows."""
  leaves, tree = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  return jax.tree.unflatten(tree, [x + scale * jax.random.normal(k, x.shape, x.dtype)
                                   for x, k in zip(leaves, keys)])


@pytest.mark.parametrize("config_name,method", cases(sorted(METHODS)))
def test_initialisation_leaves_outputs_unchanged(config_name, method):
  config = CONFIGS[config_name]
  plain, tuned = make_model(config), make_model(config, peft=METHODS[method]())
  batch = random_batch(config, batch_size=2, inputs_len=6, targets_len=5)
  base = init(plain)
  full = init(tuned)
  frozen, trainable = tuned.split_params(full)
  assert trainable and jax.tree.leaves(trainable)
  # The frozen part is exactly the network's tree; the new leaves are all trainable.
  assert set(param_trees.flat(tuned.base_params(full))) == set(param_trees.flat(base))
  assert set(param_trees.flat(frozen)) <= set(param_trees.flat(base))
  # The base network's values with the method's fresh initialisation. Bit for bit at the
  # suite's -O0; at XLA's default level the added zero or unit terms change which products
  # LLVM contracts into fused multiply-adds, a few float32 ulps.
  with_base = param_trees.nested({**param_trees.flat(full), **param_trees.flat(base)})
  np.testing.assert_allclose(logits(tuned, with_base, batch), logits(plain, base, batch),
                             rtol=0, atol=1e-6)


@pytest.mark.parametrize("config_name,method", cases(["lora", "lora_all", "ia3"]))
def test_merged_equals_unmerged(config_name, method):
  config = CONFIGS[config_name]
  plain, tuned = make_model(config), make_model(config, peft=METHODS[method]())
  batch = random_batch(config, batch_size=2, inputs_len=6, targets_len=5)
  params = perturbed(init(tuned))
  merged = tuned.merged_params(params)
  assert set(param_trees.flat(merged)) == set(param_trees.flat(init(plain)))
  np.testing.assert_allclose(logits(plain, merged, batch), logits(tuned, params, batch),
                             rtol=1e-4, atol=1e-4)


def test_a_target_regex_that_matches_nothing_fails_naming_it():
  with pytest.raises(ValueError, match=r"lora targets regex '\.\*q_proj' match no module.*"
                                       r"self_attention/query"):
    make_model(TINY_LLAMA, peft=peft.LoRA(targets=".*q_proj"))


def test_a_rank_larger_than_the_projection_fails_naming_it():
  with pytest.raises(ValueError, match=r"rank 40 is larger than the projection decoder/"
                                       r"layers/layers_0/self_attention/query \(32 -> 32\)"):
    make_model(TINY_LLAMA, peft=peft.LoRA(rank=40))


def test_only_the_method_parameters_train_and_houlsby_trains_the_norms():
  lora = make_model(TINY_T5, peft=peft.LoRA())
  _, trainable = lora.split_params(init(lora))
  names = {param_trees.path_name(p) for p in param_trees.flat(trainable)}
  assert names and all("/lora/" in n and "attention/" in n for n in names)
  assert any("encoder_decoder_attention/value/lora/b" in n for n in names)
  houlsby = make_model(TINY_T5, peft=peft.Adapters(bottleneck_dim=8))
  _, trainable = houlsby.split_params(init(houlsby))
  names = {param_trees.path_name(p) for p in param_trees.flat(trainable)}
  assert "encoder/encoder_norm/scale" in names
  assert "encoder/layers/layers_0/self_attention/adapter/up_kernel" in names
  assert not any("kernel" in n and "adapter" not in n for n in names)


@pytest.mark.parametrize("config_name,method", [
    ("llama_scanned", "lora_all"),
    pytest.param("t5", "ia3", marks=pytest.mark.slow)])
def test_cached_decoding_sees_the_method(config_name, method):
  """Greedy decoding through the KV cache (the loops unscan and clone the module) equals
  decoding the plain model with the method merged into its weights."""
  config = CONFIGS[config_name]
  plain, tuned = make_model(config), make_model(config, peft=METHODS[method]())
  params = perturbed(init(tuned), scale=0.3)
  batch = random_batch(config, batch_size=2, inputs_len=6, targets_len=5)
  inputs = (tuned.prompt_inputs(batch["encoder_input_tokens"]) if config.is_encoder_decoder
            else tuned.prompt_inputs(batch["decoder_target_tokens"][:, :6]))
  decode = lambda kind, p: np.asarray(jax.jit(lambda p: kind.generate(
      p, inputs, jax.random.key(0), max_new_tokens=6).tokens)(p))
  tuned_tokens = decode(tuned, params)
  np.testing.assert_array_equal(tuned_tokens, decode(plain, tuned.merged_params(params)))
  assert not np.array_equal(tuned_tokens, decode(plain, tuned.base_params(params)))
