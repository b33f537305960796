"""GRPO iteration time with the generate / score / train split, on the peers' GRPO workload
(../shared/peers/bench_trl_grpo.py, TRL's GRPOTrainer).

Workload: a randomly initialised Llama policy (`trl_tiny` = the peer's `--shape tiny`,
`smollm2_135m` = its `--shape 135m`, or any benchmarks/configs.py shape) and a frozen
reference copy; 4 prompts x 64 tokens, G = 4 completions each (16 sequences) of exactly 32
sampled tokens (no EOS stop, temperature 1), reward = the fraction of even token ids in the
completion, k3 KL to the reference (beta 0.04), one optimizer step per generation, fp32, one
device. An iteration is trainer.rlhf.grpo's: sample (rollout.make_sampler), score (the
reference's log-probs of the completions, rollout.make_reference_scorer, and the reward on
the host; the sampler's log-probs are the old ones), train (grpo.loop.jit_grpo_update).
Settings, each timed in the same run:
  peer              the peer's: fp32 sampler, the reference's log-probs on the fly in every
                    iteration, one optimizer step per generation, the gin model file's layers;
  bf16_sampler_tis  decoding in bfloat16 (parameters and training stay fp32), the ratio's
                    old log-probs from the trainer and TIS (cap 2) correcting for the sampler;
  unscanned         layers unscanned in scoring and training (only for shapes whose gin
                    file scans them; the sampler always runs them unscanned);
  bf16              every phase computing in bfloat16 over fp32 parameters (ModelConfig.dtype:
                    the sampler, the reference, the update; fp32 optimizer and master weights),
                    the sampler's log-probs used as the old ones (both sides decode in bf16).
The JSON holds "peer", "best" (the fastest setting, named) and every setting's seconds.

  python -m benchmarks.grpo --shape trl_tiny --iters 5 --warmup 2

prints one JSON line.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

if __package__ in (None, ""):  # run as a script: make the repository importable
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import hardware, ours, timing
from benchmarks.rlhf import PHASES, SHAPES, TRL_TINY, shape_cli
from models import make_model
from trainer import partitioning, train_state
from trainer.rlhf.grpo import loop
from trainer.rlhf.grpo import step as step_lib
from trainer.rlhf.ppo import rollout

PROMPTS, GROUP, PROMPT_LEN, NEW_TOKENS, BETA = 4, 4, 64, 32, 0.04
ROWS = PROMPTS * GROUP
EOS_ID = 1
# Never sampled, so every row gets exactly NEW_TOKENS tokens, as the peer's fixed length.
NO_EOS = -1


@dataclasses.dataclass(frozen=True)
class Setting:
  """sampler_dtype: None (fp32) or the dtype the sampler decodes in; tis_cap: the TIS
  weight's cap that corrects for it (GRPOConfig.tis_cap); model_overrides: performance
  knobs of the ModelConfig (benchmarks.ours.model_config)."""
  description: str
  sampler_dtype: str | None = None
  tis_cap: float | None = None
  model_overrides: tuple[tuple[str, object], ...] = ()

  def model_config(self, shape_name: str):
    return ours.model_config(SHAPES[shape_name], **dict(self.model_overrides))


PEER = Setting("fp32 sampler, reference log-probs on the fly, one optimizer step per "
               "generation (TRL GRPOTrainer's num_iterations=1)")
CANDIDATES = {
    "bf16_sampler_tis": Setting("peer's, decoding in bfloat16 with TIS (cap 2) correcting "
                                "the ratio", sampler_dtype="bfloat16", tis_cap=2.0),
    "unscanned": Setting("peer's, layers unscanned (ModelConfig.scan_layers=False)",
                         model_overrides=(("scan_layers", False),)),
    "bf16": Setting("peer's, computing in bfloat16 over fp32 parameters in every phase",
                    model_overrides=(("dtype", jnp.bfloat16),)),
}


def settings_for(shape_name: str) -> dict[str, Setting]:
  """The peer's and our candidates, less those that do the peer's work on this shape."""
  def work(s):
    return s.sampler_dtype, s.tis_cap, s.model_config(shape_name)
  return {"peer": PEER, **{name: s for name, s in CANDIDATES.items() if work(s) != work(PEER)}}


def even_fraction(responses_br) -> np.ndarray:
  """The peer's reward: the fraction of even token ids among each response's tokens."""
  responses_br = np.asarray(responses_br)
  mask = np.cumprod(responses_br > 0, axis=1)
  evens = np.sum((responses_br % 2 == 0) * mask, axis=1)
  return (evens / np.maximum(mask.sum(axis=1), 1)).astype(np.float32)


def _grouped_prompts(config, iterations: int) -> list[np.ndarray]:
  """Fresh prompts per iteration (ids from 3 up: no padding or EOS), each repeated G times
  in contiguous rows as GRPO's advantages expect."""
  rng = np.random.default_rng(0)
  return [np.repeat(rng.integers(3, config.vocab_size, (PROMPTS, PROMPT_LEN), dtype=np.int32),
                    GROUP, axis=0) for _ in range(iterations)]


def grpo_iterations(shape_name: str, iters: int, warmup: int, setting: Setting) -> dict:
  """Median seconds per GRPO iteration and of each phase, and the last iteration's metrics."""
  config = setting.model_config(shape_name)
  model = make_model(config)
  mesh = partitioning.make_mesh(devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  example, _ = model.sequence_batch(jnp.ones((ROWS, PROMPT_LEN), jnp.int32),
                                    jnp.ones((ROWS, NEW_TOKENS), jnp.int32), EOS_ID)
  optimizer = ours.benchmark_optimizer()
  _, shardings = train_state.state_shardings(model.module, optimizer, example, mesh, rules)
  state = train_state.create_train_state(model.module, optimizer, example, shardings, mesh,
                                         rules, 0)
  reference_params = jax.tree.map(jnp.copy, state.params)
  sample = rollout.make_sampler(model, mesh, rules, shardings.params, max_new_tokens=NEW_TOKENS,
                                temperature=1.0, eos_id=NO_EOS,
                                compute_dtype=setting.sampler_dtype)
  score = rollout.make_reference_scorer(model, mesh, rules, shardings.params, eos_id=EOS_ID)
  grpo_config = step_lib.GRPOConfig(group_size=GROUP, beta=BETA, epochs=1, num_minibatches=1,
                                    tis_cap=setting.tis_cap)
  update = loop.jit_grpo_update(model, optimizer, grpo_config, shardings, {}, mesh,
                                eos_id=EOS_ID)
  prompts = _grouped_prompts(config, warmup + iters)
  holder = {"state": state}

  def iteration(i):
    t0 = time.perf_counter()
    responses, logprobs = sample(holder["state"].params, prompts[i], jax.random.key(i))
    jax.block_until_ready(responses)
    t1 = time.perf_counter()
    scored = score(reference_params, None, prompts[i], responses)
    rewards = even_fraction(responses)
    jax.block_until_ready(scored)
    t2 = time.perf_counter()
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      holder["state"], metrics = update(
          holder["state"], {"prompts": prompts[i], "responses": responses,
                            "logprobs": logprobs, "ref_logprobs": scored["ref_logprobs"],
                            "rewards": jnp.asarray(rewards)}, jax.random.key(i), {})
    holder["metrics"] = jax.device_get(metrics)
    return t1 - t0, t2 - t1, time.perf_counter() - t2
  totals, phases = timing.time_phased_iterations(iteration, PHASES, iters, warmup)
  return {"setting": setting.description, "seconds_per_iteration": totals.median,
          "sequences_per_s": totals.rate(ROWS), **phases,
          "last_metrics": {name: float(v) for name, v in holder["metrics"].items()}}


def measure(shape_name: str = TRL_TINY.name, iters: int = 5, warmup: int = 2) -> dict:
  settings = {name: grpo_iterations(shape_name, iters, warmup, setting)
              for name, setting in settings_for(shape_name).items()}
  best = min(settings, key=lambda name: settings[name]["seconds_per_iteration"])
  return {"shape": shape_name, "cpu": hardware.cpu_info(),
          "workload": {"prompts": PROMPTS, "generations": GROUP, "prompt_len": PROMPT_LEN,
                       "completion_len": NEW_TOKENS, "beta": BETA},
          "peer": settings["peer"], "best": dict(settings[best], name=best),
          "seconds_per_iteration": {name: r["seconds_per_iteration"]
                                    for name, r in settings.items()}}


def main(argv=None):
  shape_cli(measure, __doc__.split("\n\n")[0], argv)


if __name__ == "__main__":
  main()
