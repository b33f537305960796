"""Bytes the PPO stage holds, full fine-tuning vs a LoRA policy, from abstract shapes only
(nothing is allocated): the PPOState (policy and value model with their AdamW states, what
every iteration donates and every checkpoint saves) and the frozen trees beside it (the
reference policy and the reward model). Under LoRA the reference is the policy's frozen
base, so the base weights are held once; the value and reward models stay full scalar heads.

  python -m benchmarks.ppo_state_memory --shape smollm2_135m --rank 8

prints one JSON line.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax
import jax.numpy as jnp

from benchmarks import configs, ours
from models import make_model, peft
from trainer import partitioning, restore, train_state
from trainer.rlhf.ppo import state as state_lib


def tree_bytes(tree) -> int:
  return sum(leaf.size * jnp.dtype(leaf.dtype).itemsize for leaf in jax.tree.leaves(tree))


def ppo_bytes(shape_name: str, method=None) -> dict:
  """{ppo_state, policy_trainable, policy_optimizer, value_and_optimizer, reference,
  reward_model, total} bytes for the shape's policy (with `method` when given)."""
  config = ours.model_config(configs.SHAPES[shape_name])
  model = make_model(config, peft=method)
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  optimizer = ours.benchmark_optimizer()
  example, _ = model.sequence_batch(jnp.ones((1, 8), jnp.int32), jnp.ones((1, 8), jnp.int32), 1)
  trainable = None if method is None else (lambda params: model.split_params(params)[1])
  policy_abstract, policy_shardings = train_state.state_shardings(
      model.module, optimizer, example, mesh, rules, trainable)
  value = model.scalar_head()
  abstract, _ = state_lib.with_value_model(policy_abstract, policy_shardings, value,
                                           optimizer, example, mesh, rules)
  base, _ = restore.abstract_params(model.without_peft().module, example, mesh, rules)
  reward, _ = restore.abstract_params(value, example, mesh, rules)
  sizes = {"ppo_state": tree_bytes(abstract),
           "policy_trainable": tree_bytes(abstract.policy.params),
           "policy_optimizer": tree_bytes(abstract.policy.opt_state),
           "value_and_optimizer": tree_bytes(abstract.value),
           # Full fine-tuning keeps the reference as its own tree; under PEFT the reference
           # is the base, which also completes the policy (counted here, once).
           "reference": tree_bytes(base), "reward_model": tree_bytes(reward)}
  sizes["total"] = sizes["ppo_state"] + sizes["reference"] + sizes["reward_model"]
  return sizes


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--shape", default=configs.SMOLLM2_135M.name, choices=configs.SHAPES)
  parser.add_argument("--rank", type=int, default=8)
  args = parser.parse_args(argv)
  full = ppo_bytes(args.shape)
  lora = ppo_bytes(args.shape, peft.LoRA(rank=args.rank))
  print(json.dumps({"shape": args.shape, "lora": f"rank {args.rank} on attention q, v",
                    "full_fine_tuning": full, "lora_policy": lora,
                    "total_ratio": lora["total"] / full["total"],
                    "ppo_state_ratio": lora["ppo_state"] / full["ppo_state"]}))


if __name__ == "__main__":
  main()
