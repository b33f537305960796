"""RLHF throughput: reward-model pairs/s and PPO episodes/s with the generate / score /
train split, on the peers' shared PPO workload (REFERENCE.md section 2).

Workload: a randomly initialised Llama policy (`trl_tiny` = bench_trl.py's `--shape tiny`,
`smollm2_135m` = its `--shape 135m`, or any benchmarks/configs.py decoder shape), value
and reward models of the same shape, a frozen reference; 16 prompts x 64 tokens, 32 sampled
tokens (temperature 1), per-token KL, GAE, one PPO epoch of 4 minibatches of 4, fp32.
Reward model: 8 prompts x K=4 responses of 32 tokens (6 pairs each) per step.

  python -m benchmarks.rlhf --shape trl_tiny --iters 5 --warmup 2

prints one JSON line (the form benchmarks/run.py reads).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import configs, ours, timing
from models import make_model
from trainer import partitioning, restore, train_state
from trainer.rlhf import reward_step
from trainer.rlhf.ppo import kl_controller, ppo_step, rollout
from trainer.rlhf.ppo import state as state_lib

# The peers' tiny shape (../shared/peers/bench_trl.py): llama_tiny with 2 KV heads and
# RoPE base 1e5. Its 135m shape is smollm2_135m.
TRL_TINY = dataclasses.replace(configs.LLAMA_TINY, name="trl_tiny", num_kv_heads=2,
                               rope_theta=1e5)
SHAPES = {**configs.SHAPES, TRL_TINY.name: TRL_TINY}
PROMPTS, PROMPT_LEN, NEW_TOKENS = 16, 64, 32
RM_PROMPTS, RM_RESPONSES = 8, 4
PHASES = ("generate", "score", "train")


def _rows(config, n, length, seed):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.integers(2, config.vocab_size, (n, length)), jnp.int32)


def _setup(shape_name: str):
  """Policy and value/reward modules, a one-device mesh and the PPO state's shardings."""
  config = ours.model_config(SHAPES[shape_name])
  model = make_model(config)
  policy, value = model.module, model.scalar_head()
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  prompts = _rows(config, PROMPTS, PROMPT_LEN, 0)
  example, _ = model.sequence_batch(prompts, jnp.ones((PROMPTS, NEW_TOKENS), jnp.int32), 1)
  optimizer = ours.benchmark_optimizer()
  _, shardings = state_lib.ppo_state_shardings(policy, optimizer, value, optimizer, example,
                                               mesh, rules)
  return model, value, mesh, rules, prompts, example, optimizer, shardings


def ppo_throughput(shape_name: str, iters: int, warmup: int) -> dict:
  """Seconds per PPO iteration and the median seconds of each phase."""
  model, value, mesh, rules, prompts, example, optimizer, shardings = _setup(shape_name)
  policy_params = restore.init_params(model.module, example, shardings.policy.params, mesh,
                                      rules, 0)
  value_params = restore.init_params(value, example, shardings.value.params, mesh, rules, 1)
  ref_params = jax.tree.map(jnp.copy, policy_params)
  reward_params = jax.tree.map(jnp.copy, value_params)
  state = state_lib.initial_ppo_state(policy_params, value_params, optimizer, optimizer, 0.05,
                                      shardings)
  sample = rollout.make_sampler(model, mesh, rules, shardings.policy.params,
                                max_new_tokens=NEW_TOKENS, eos_id=1)
  score = rollout.make_scorer(model, value, mesh, rules, shardings.policy.params,
                              shardings.value.params, eos_id=1)
  update = jax.jit(functools.partial(
      ppo_step.ppo_update, model=model, value_apply=value.apply,
      policy_optimizer=optimizer, value_optimizer=optimizer,
      config=ppo_step.PPOConfig(epochs=1, num_minibatches=4),
      kl_controller=kl_controller.KLController(0.05), eos_id=1),
      in_shardings=(shardings, None, None, None), out_shardings=(shardings, None),
      donate_argnums=(0,))
  holder = [state]

  def iteration(i):
    t0 = time.perf_counter()
    responses, logprobs = sample(holder[0].policy.params, prompts, jax.random.key(i))
    jax.block_until_ready(responses)
    t1 = time.perf_counter()
    scored = score(ref_params, holder[0].value.params, reward_params, prompts, responses)
    jax.block_until_ready(scored)
    t2 = time.perf_counter()
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      holder[0], metrics = update(holder[0], dict(scored, prompts=prompts, responses=responses,
                                                  logprobs=logprobs), None, jax.random.key(i))
    jax.block_until_ready(metrics)
    return t1 - t0, t2 - t1, time.perf_counter() - t2
  totals, phases = timing.time_phased_iterations(iteration, PHASES, iters, warmup)
  return {"seconds_per_iteration": totals.median, "episodes_per_s": totals.rate(PROMPTS),
          **phases}


def rm_throughput(shape_name: str, iters: int, warmup: int) -> dict:
  """Reward-model training pairs per second (every C(K,2) pair of each prompt)."""
  config = ours.model_config(SHAPES[shape_name])
  kind = make_model(config)
  model = kind.scalar_head()
  optimizer = ours.benchmark_optimizer()
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  batch = {"prompts": _rows(config, RM_PROMPTS, PROMPT_LEN, 0),
           "responses": _rows(config, RM_PROMPTS * RM_RESPONSES, NEW_TOKENS, 1).reshape(
               RM_PROMPTS, RM_RESPONSES, NEW_TOKENS),
           "ranks": jnp.tile(jnp.arange(RM_RESPONSES, dtype=jnp.int32), (RM_PROMPTS, 1))}
  example, _ = kind.sequence_batch(
      jnp.ones((RM_PROMPTS * RM_RESPONSES, PROMPT_LEN), jnp.int32),
      jnp.ones((RM_PROMPTS * RM_RESPONSES, NEW_TOKENS), jnp.int32), 1)
  _, shardings = train_state.state_shardings(model, optimizer, example, mesh, rules)
  state = train_state.create_train_state(model, optimizer, example, shardings, mesh, rules, 0)
  step = jax.jit(functools.partial(
      reward_step.reward_step, apply_fn=model.apply, optimizer=optimizer,
      learning_rate_fn=lambda _: configs.LEARNING_RATE, eos_id=1,
      sequence_batch=kind.sequence_batch), donate_argnums=(0,))
  holder = [state]

  def call():
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      holder[0], metrics = step(holder[0], batch)
    jax.block_until_ready(metrics)
  pairs = RM_PROMPTS * RM_RESPONSES * (RM_RESPONSES - 1) // 2
  return {"pairs_per_s": timing.time_calls(call, iters, warmup).rate(pairs),
          "pairs_per_step": pairs}


def measure(shape_name: str = TRL_TINY.name, iters: int = 5, warmup: int = 2) -> dict:
  """{"rm": pairs/s, "ppo": episodes/s with generate/score/train seconds}."""
  return {"shape": shape_name, "rm": rm_throughput(shape_name, iters, warmup),
          "ppo": ppo_throughput(shape_name, iters, warmup)}


def shape_cli(measure_fn, description: str, argv=None):
  """--shape / --iters / --warmup -> one JSON line of measure_fn(shape, iters, warmup)."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument("--shape", default=TRL_TINY.name, choices=sorted(SHAPES))
  parser.add_argument("--iters", type=int, default=5)
  parser.add_argument("--warmup", type=int, default=2)
  args = parser.parse_args(argv)
  print(json.dumps(measure_fn(args.shape, args.iters, args.warmup)))


def main(argv=None):
  shape_cli(measure, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
  main()
