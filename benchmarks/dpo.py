"""DPO training throughput (pairs/s) on the peers' DPO workload
(../shared/peers/bench_trl_dpo.py, TRL's DPOTrainer).

Workload: a randomly initialised Llama policy (`trl_tiny` = the peer's `--shape tiny`,
`smollm2_135m` = its `--shape 135m`, or any benchmarks/configs.py decoder shape) and a
frozen reference copy; 8 preference pairs per step, prompt 64 tokens, chosen and rejected
32 tokens each, sigmoid DPO loss (beta 0.1), fp32 parameters, one device. Settings:
  online       reference log-probs computed in every step (TRL's
               `precompute_ref_log_probs=False`, the peer's setting);
  cached       reference log-probs computed once before training (our default), so the step
               runs the policy alone; the one-off pass is timed apart
               (`reference_pass_pairs_per_s`);
  online_bf16, cached_bf16
               the same, computing in bfloat16 over fp32 parameters (ModelConfig.dtype; fp32
               optimizer and master weights).
The JSON holds every setting and "best" (the one with the most pairs/s, named).

  python -m benchmarks.dpo --shape trl_tiny --iters 5 --warmup 2

prints one JSON line.
"""
from __future__ import annotations

import functools
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import configs, hardware, ours, timing
from benchmarks.rlhf import SHAPES, TRL_TINY, shape_cli
from models import make_model
from trainer import partitioning, restore, train_state
from trainer.rlhf.dpo import loop, step as step_lib
from trainer.rlhf.dpo.losses import DPOConfig

PAIRS, PROMPT_LEN, RESPONSE_LEN = 8, 64, 32


def _rows(config, length, seed):
  rng = np.random.default_rng(seed)
  return np.asarray(rng.integers(2, config.vocab_size, (PAIRS, length)), np.int32)


SETTINGS = {"online": ("online", jnp.float32), "cached": ("cached", jnp.float32),
            "online_bf16": ("online", jnp.bfloat16), "cached_bf16": ("cached", jnp.bfloat16)}


def dpo_throughput(shape_name: str, iters: int, warmup: int, reference: str, dtype) -> dict:
  """Pairs per second of the compiled DPO step with the reference `online` or `cached`,
  computing in `dtype`."""
  config = ours.model_config(SHAPES[shape_name], dtype=dtype)
  model = make_model(config)
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  batch = {"prompts": _rows(config, PROMPT_LEN, 0), "chosen": _rows(config, RESPONSE_LEN, 1),
           "rejected": _rows(config, RESPONSE_LEN, 2)}
  example, _ = model.sequence_batch(jnp.ones((2 * PAIRS, PROMPT_LEN), jnp.int32),
                                    jnp.ones((2 * PAIRS, RESPONSE_LEN), jnp.int32), 1)
  optimizer = ours.benchmark_optimizer()
  _, shardings = train_state.state_shardings(model.module, optimizer, example, mesh, rules)
  reference_params = restore.init_params(model.module, example, shardings.params, mesh,
                                         rules, 0)
  state = jax.jit(lambda p: train_state.TrainState(
      jnp.zeros((), jnp.int32), jax.tree.map(jnp.copy, p), optimizer.init(p)),
                  out_shardings=shardings)(reference_params)
  dpo_config = DPOConfig(loss_type="dpo", beta=0.1, reference=reference)
  result = {}
  if reference == "cached":
    compute = jax.jit(functools.partial(step_lib.reference_logprobs, model, eos_id=1))

    def reference_pass():
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        return jax.block_until_ready(compute(reference_params, batch))
    result["reference_pass_pairs_per_s"] = timing.time_calls(
        reference_pass, iters, warmup).rate(PAIRS)
    batch = dict(batch, **jax.device_get(reference_pass()))
  step = loop.compile_dpo_step(model, optimizer, lambda _: configs.LEARNING_RATE, dpo_config,
                               shardings, mesh, rules, eos_id=1)
  holder = [state]

  def call():
    holder[0], metrics = step(holder[0], reference_params, batch)
    jax.block_until_ready(metrics)
  timings = timing.time_calls(call, iters, warmup)
  return {"seconds_per_step": timings.median, "pairs_per_s": timings.rate(PAIRS), **result}


def measure(shape_name: str = TRL_TINY.name, iters: int = 5, warmup: int = 2) -> dict:
  settings = {name: dpo_throughput(shape_name, iters, warmup, reference, dtype)
              for name, (reference, dtype) in SETTINGS.items()}
  best = max(settings, key=lambda name: settings[name]["pairs_per_s"]["median"])
  return {"shape": shape_name, "cpu": hardware.cpu_info(),
          "workload": {"pairs_per_step": PAIRS, "prompt_len": PROMPT_LEN,
                       "response_len": RESPONSE_LEN, "beta": 0.1},
          **settings, "best": dict(settings[best], name=best)}


def main(argv=None):
  shape_cli(measure, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
  main()
