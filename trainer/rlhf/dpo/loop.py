"""The DPO-family stage (DPO, IPO, cDPO, SimPO, ORPO by `DPOConfig.loss_type`) on the stage
runner: policy and reference from the SFT run, pairs from the comparison JSONL, the step
compiled with the mesh's shardings, checkpoints with exact resume, then held-out pair
accuracy and the policy's KL to the reference on held-out prompts.

  MODEL_DIR/checkpoints                the policy (TrainState)
  MODEL_DIR/reference_logprobs.npz     the cached reference log-probs of the training pairs
  MODEL_DIR/results.json               held-out pair metrics, KL, pair counts
"""
import functools
import hashlib
import io
import json
import os

from etils import epath
import flax.linen as nn
import gin
import jax
import jax.numpy as jnp
import numpy as np

from trainer import (checkpoints as checkpoints_lib, partitioning, run_dir, stage_runner,
                     throughput)
from trainer.rlhf import batches, policy_samples, policy_weights, stage_flops
from trainer.rlhf.dpo import losses as losses_lib
from trainer.rlhf.dpo import pairs as pairs_lib
from trainer.rlhf.dpo import step as step_lib
from trainer.rlhf.ppo import rollout

RESULTS_FILE, REFERENCE_CACHE = "results.json", "reference_logprobs.npz"
TRAIN_FILE, HELDOUT_FILE = "train.jsonl", "heldout.jsonl"


def batch_shardings(mesh, rules, cached_reference: bool) -> dict:
  """Pair rows split like any batch."""
  rows, scalars = (partitioning.batch_sharding(mesh, rules, n) for n in (2, 1))
  shardings = {"prompts": rows, "chosen": rows, "rejected": rows}
  if cached_reference:
    shardings.update(reference_chosen=scalars, reference_rejected=scalars)
  return shardings


def reads_reference_online(config: losses_lib.DPOConfig) -> bool:
  return config.uses_reference and config.reference == "online"


def jit_dpo_step(model, optimizer, learning_rate, config: losses_lib.DPOConfig,
                 state_shardings, mesh, rules, eos_id: int, frozen_shardings=None,
                 reference_shardings=None):
  """(state, reference params or None, batch, frozen base) -> (state, metrics), jitted with
  the state's, the reference's (by default its parameters shard like the policy's), the
  batch's and the frozen base's shardings; the reference is an argument only when the loss
  reads it online. frozen_shardings: a PEFT policy's base's (never donated); None without
  PEFT. Call it under the mesh."""
  online = reads_reference_online(config)
  fn = functools.partial(step_lib.dpo_step, model=model, optimizer=optimizer,
                         learning_rate_fn=learning_rate, config=config, eos_id=eos_id)
  reference_shardings = reference_shardings or state_shardings.params
  return jax.jit(fn, in_shardings=(state_shardings,
                                   reference_shardings if online else None,
                                   batch_shardings(mesh, rules, config.uses_reference
                                                   and not online),
                                   frozen_shardings),
                 out_shardings=(state_shardings, partitioning.replicated(mesh)),
                 donate_argnums=(0,))


def compile_dpo_step(model, optimizer, learning_rate, config: losses_lib.DPOConfig,
                     state_shardings, mesh, rules, eos_id: int, frozen=None,
                     reference_shardings=None):
  """(state, reference params or None, batch) -> (state, metrics): `jit_dpo_step` run under
  the mesh and rules. frozen: a PEFT policy's base, an argument of every call."""
  online = reads_reference_online(config)
  jitted = jit_dpo_step(model, optimizer, learning_rate, config, state_shardings, mesh, rules,
                        eos_id, jax.tree.map(lambda leaf: leaf.sharding, frozen),
                        reference_shardings)

  def run(state, reference_params, batch):
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      return jitted(state, reference_params if online else None, batch, frozen)
  return run


def _fingerprint(arrays: dict) -> str:
  digest = hashlib.sha256()
  for name in sorted(arrays):
    digest.update(name.encode())
    digest.update(np.ascontiguousarray(arrays[name]).tobytes())
  return digest.hexdigest()


def cached_reference_logprobs(model_dir, pairs, compute, chunk: int) -> dict:
  """{"reference_chosen", "reference_rejected"} [N] of every training pair: read from
  MODEL_DIR/reference_logprobs.npz when it was made for these very pairs, else computed
  in one pass (`compute`: a chunk of pairs -> its reference log-probs) and saved there."""
  path = epath.Path(model_dir) / REFERENCE_CACHE
  fingerprint = _fingerprint(pairs)
  if path.exists():
    with np.load(io.BytesIO(path.read_bytes())) as saved:
      if str(saved["fingerprint"]) == fingerprint:
        return {k: saved[k] for k in ("reference_chosen", "reference_rejected")}
  cached = policy_samples.map_in_chunks(compute, pairs, chunk)
  buffer = io.BytesIO()
  np.savez(buffer, fingerprint=np.array(fingerprint), **cached)
  run_dir.write_bytes(path, buffer.getvalue())
  return cached


def _epoch_batches(arrays: dict, batch_size: int, seed: int, start: int):
  """The batches of steps start, start + 1, ...: each epoch a seeded order over the pairs."""
  count = len(next(iter(arrays.values())))
  per_epoch = count // batch_size
  epoch, index = divmod(start, per_epoch)
  while True:
    order = np.random.default_rng([seed, epoch]).permutation(count)
    for i in range(index, per_epoch):
      rows = order[i * batch_size:(i + 1) * batch_size]
      yield {k: v[rows] for k, v in arrays.items()}
    epoch, index = epoch + 1, 0


def make_pair_scorer(model, config: losses_lib.DPOConfig, eos_id: int):
  """(policy params, reference params, pairs) -> per pair {"losses", "margins"}, the
  reference log-probs computed on the fly; compiled once."""
  @jax.jit
  def score(params, reference_params, batch):
    chosen, rejected, chosen_tokens, rejected_tokens = step_lib.pair_logprobs(
        model, params, batch, eos_id)
    reference = step_lib.reference_logprobs(model, reference_params, batch, eos_id)
    out = losses_lib.preference_loss(losses_lib.PairLogProbs(
        chosen, rejected, chosen_tokens, rejected_tokens, reference["reference_chosen"],
        reference["reference_rejected"]), config)
    return {"losses": out.losses, "margins": out.chosen_rewards - out.rejected_rewards}
  return score


def pair_metrics(score, params, reference_params, pairs, chunk: int) -> dict:
  """Mean loss, reward accuracy (margin > 0) and mean reward margin over `pairs`."""
  scored = policy_samples.map_in_chunks(lambda b: score(params, reference_params, b), pairs,
                                        chunk)
  return {"loss": float(np.mean(scored["losses"])),
          "reward_accuracy": float(np.mean(scored["margins"] > 0)),
          "reward_margin": float(np.mean(scored["margins"]))}


def kl_to_reference(params, reference_params, prompts, *, model, mesh, rules,
                    param_shardings, reference_shardings, response_length: int, eos_id: int,
                    chunk: int, seed: int) -> dict:
  """Mean over prompts of sum_t log pi(y_t) - log pi_ref(y_t) for responses sampled from
  the policy at temperature 1 (as trainer/rlhf/evaluation.py measures it), and their length."""
  sample = rollout.make_sampler(model, mesh, rules, param_shardings,
                                max_new_tokens=response_length, eos_id=eos_id)
  score = rollout.make_reference_scorer(model, mesh, rules, reference_shardings,
                                        eos_id=eos_id)
  responses, logprobs = policy_samples.sample_in_chunks(sample, params, prompts, chunk, seed)
  reference = policy_samples.map_in_chunks(
      lambda b: score(reference_params, None, b["prompts"], b["responses"]),
      {"prompts": prompts, "responses": responses}, chunk)["ref_logprobs"]
  mask = np.asarray(batches.response_mask(responses))
  return {"kl_to_reference": float(np.mean(np.sum((logprobs - reference) * mask, axis=1))),
          "sampled_response_length": float(mask.sum(axis=1).mean())}


@gin.configurable
def train_dpo(model_dir: str = gin.REQUIRED, sft_dir: str = gin.REQUIRED,
              comparisons_dir: str = gin.REQUIRED, *, model=gin.REQUIRED,
              optimizer=gin.REQUIRED, learning_rate=gin.REQUIRED,
              config: losses_lib.DPOConfig = losses_lib.DPOConfig(), batch_size: int = 16,
              epochs: int = 1, train_steps: int | None = None, prompt_length: int = 96,
              response_length: int = 16, heldout_prompts: int = 128, seed: int = 0,
              vocabulary=None, mesh=None, rules=None, log_every: int = 10,
              checkpoint_every: int = 100, initial_checkpoint_path: str | None = None):
  """Trains the policy on the preference pairs of COMPARISONS_DIR/train.jsonl for `epochs`
  (or `train_steps` when given), resuming from MODEL_DIR's newest checkpoint; returns
  (final TrainState, reference params, results dict).

  initial_checkpoint_path: the reference policy, which a fresh run's policy starts from (a
    run of ours, a HuggingFace directory or a .gguf file); default: sft_dir's newest
    checkpoint. It must match `model`'s config; that is checked, like the data, before
    MODEL_DIR is touched.
  With a PEFT method on `model` (models.peft) that starting point is the one frozen base:
  the reference is the base with the method switched off, the state and its checkpoints
  hold the trained delta only and name the base (see trainer.rlhf.policy_weights).
  heldout_prompts: how many distinct prompts of heldout.jsonl the final KL samples on.
  """
  mesh = mesh or partitioning.make_mesh()
  rules = rules or partitioning.logical_axis_rules()
  vocabulary = batches.stage_vocabulary(vocabulary, model.config, "train_dpo")
  eos_id = vocabulary.eos_id
  read = lambda name: pairs_lib.read_pairs(os.path.join(comparisons_dir, name), vocabulary,
                                           prompt_length, response_length)
  train_pairs, counts = read(TRAIN_FILE)
  heldout_pairs, heldout_counts = read(HELDOUT_FILE)
  if counts["pairs"] < batch_size:
    raise ValueError(f"{comparisons_dir}/{TRAIN_FILE}: {counts['pairs']} preference pairs, "
                     f"fewer than batch_size={batch_size}")
  total = train_steps or epochs * (counts["pairs"] // batch_size)

  example, _ = model.sequence_batch(jnp.ones((2 * batch_size, prompt_length), jnp.int32),
                                    jnp.ones((2 * batch_size, response_length), jnp.int32),
                                    eos_id)
  policy = policy_weights.load(model, optimizer, example, mesh, rules,
                               initial_checkpoint_path=initial_checkpoint_path,
                               sft_dir=sft_dir, seed=seed)
  reference_params = policy.reference
  model_dir = run_dir.prepare_model_dir(model_dir)
  checkpoints = checkpoints_lib.Checkpoints(os.path.join(model_dir, "checkpoints"),
                                            checkpoint_every, keep=2,
                                            custom_metadata=policy.checkpoint_metadata)

  cached = config.uses_reference and config.reference == "cached"
  if cached:
    compute = jax.jit(functools.partial(step_lib.reference_logprobs, model, eos_id=eos_id))
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      train_pairs.update(cached_reference_logprobs(
          model_dir, train_pairs, lambda b: compute(reference_params, b), batch_size))
  step_fn = compile_dpo_step(model, optimizer, learning_rate, config, policy.shardings, mesh,
                             rules, eos_id, policy.frozen, policy.reference_shardings)

  cost = stage_flops.dpo_step(model, batch_size, prompt_length, response_length,
                              online_reference=reads_reference_online(config))
  rate = throughput.stage_throughput(config.loss_type.upper(), cost.tokens, cost.flops,
                                     mesh.devices.size)

  def log_metrics(fetched, step_time):
    return dict(rate.log_metrics(fetched, step_time), pairs_per_s=batch_size / step_time)

  def on_start(_, start_step):
    print(f"{config.loss_type}: {counts['pairs']} pairs from {counts['comparisons']} "
          f"comparisons, {total} steps of {batch_size} from step {start_step}", flush=True)
    # A resumed run keeps the first run's config beside its own.
    run_dir.write_config(model_dir, f"config.resumed_at_{start_step}.gin" if start_step
                         else "config.gin", gin.operative_config_str())

  stage = stage_runner.Stage(
      abstract_state=policy.abstract,
      init=lambda: policy.initial_state(optimizer, example, mesh, rules, seed),
      step=lambda state, batch: step_fn(state, reference_params, batch),
      batches=lambda start: _epoch_batches(train_pairs, batch_size, seed, start),
      log_metrics=log_metrics, on_start=on_start, restore=policy.checked_restore(),
      name=config.loss_type.upper())
  state, _ = stage_runner.run(stage, total, model_dir=model_dir, checkpoints=checkpoints,
                              log_every=log_every)

  score = make_pair_scorer(model, config, eos_id)
  # At the start the policy is the reference (a PEFT method starts as the identity).
  score_at_start = (score if model.peft is None
                    else make_pair_scorer(model.without_peft(), config, eos_id))
  policy_params = policy.policy_params(state.params)
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    before = pair_metrics(score_at_start, reference_params, reference_params, heldout_pairs,
                          batch_size)
    after = pair_metrics(score, policy_params, reference_params, heldout_pairs, batch_size)
  _, distinct = np.unique(heldout_pairs["prompts"], axis=0, return_index=True)
  results = kl_to_reference(
      policy_params, reference_params,
      heldout_pairs["prompts"][np.sort(distinct)[:heldout_prompts]], model=model, mesh=mesh,
      rules=rules, param_shardings=policy.policy_param_shardings,
      reference_shardings=policy.reference_shardings, response_length=response_length,
      eos_id=eos_id, chunk=batch_size, seed=seed)
  results.update({f"heldout_{k}": v for k, v in after.items()})
  results.update({f"heldout_{k}_at_start": v for k, v in before.items()})
  results.update(loss_type=config.loss_type, reference=config.reference, steps=total,
                 train_pairs=counts["pairs"], train_comparisons=counts["comparisons"],
                 heldout_pairs=heldout_counts["pairs"],
                 skipped_fewer_than_two=counts["skipped_fewer_than_two"],
                 skipped_only_ties=counts["skipped_only_ties"])
  run_dir.write_text(os.path.join(model_dir, RESULTS_FILE), json.dumps(results, indent=2))
  print(f"{config.loss_type}: held-out reward accuracy "
        f"{results['heldout_reward_accuracy']:.3f}, KL to the reference "
        f"{results['kl_to_reference']:.3f} nats", flush=True)
  return state, reference_params, results
