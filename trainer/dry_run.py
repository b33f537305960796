"""train.py --dry_run: the configured stage's compiled functions (its train step; an RLHF
stage's rollout sampler with its KV cache and its scoring forward passes too) for the
configured mesh from abstract shapes (no parameter is allocated, no data read, nothing run
or written), with one device's memory and the FLOPs of a step.

The stage's arguments are the ones gin binds for it (run_stage.stage); a stage's sizer
builds the same abstract state and jitted step the stage does, and lowers it. On
simulated CPU devices the memory is XLA:CPU's plan (trainer/aot_sizing.py).
"""
import dataclasses
import inspect
import math
import time

import flax.linen as nn
import gin
import jax
import jax.numpy as jnp

from trainer import (aot_sizing, compile_step, frozen_base, loop, partitioning, restore,
                     train_state)
from trainer.rlhf import comparison_sampling, reward_loop, stage_flops
from trainer.rlhf.dpo import loop as dpo_loop
from trainer.rlhf.grpo import loop as grpo_loop
from trainer.rlhf.grpo import rewards as grpo_rewards
from trainer.rlhf.ppo import loop as ppo_loop
from trainer.rlhf.ppo import rollout
from trainer.rlhf.ppo import state as ppo_state

# A dry run has no comparisons file to count responses in; InstructGPT ranked 4 to 9.
DEFAULT_RESPONSES_PER_PROMPT = 4


@dataclasses.dataclass(frozen=True)
class CompiledStep:
  """beside: the resident entries that stay in memory while it runs without being its
  arguments (PPO's update does not read the reference)."""
  name: str
  size: aot_sizing.CompiledSize
  compile_seconds: float
  beside: tuple = ()


@dataclasses.dataclass(frozen=True)
class DryRun:
  """resident: per-device bytes of what stays in memory across steps, by name. parameters:
  the count of what the stage trains (the delta under PEFT; the policy it samples from when
  it trains nothing)."""
  stage: str
  mesh: dict
  resident: dict
  steps: list
  tokens_per_step: int
  model_flops_per_step: float
  parameters: int
  unit: str = "step"

  def with_beside(self, step: CompiledStep) -> int:
    """A step's total with what stays resident beside it."""
    return step.size.peak_bytes + sum(self.resident[k] for k in step.beside)

  @property
  def peak_bytes(self) -> int:
    """The largest step's total with what stays resident beside it."""
    return max(self.with_beside(s) for s in self.steps)

  @property
  def devices(self) -> int:
    return math.prod(self.mesh.values())

  def table(self) -> str:
    b = aot_sizing.human_bytes
    mesh = " x ".join(f"{k}={v}" for k, v in self.mesh.items())
    resident = ", ".join(f"{k} {b(v)}" for k, v in self.resident.items())
    lines = [f"{self.stage} dry run on {self.devices} devices ({mesh}): compiled, not run",
             f"  parameters: {self.parameters / 1e9:.3f} B",
             f"  resident per device: {resident}; total {b(sum(self.resident.values()))}"]
    lines += [f"  {s.name} per device: {s.size.line()}; with what stays resident beside it "
              f"{b(self.with_beside(s))}; compiled in {s.compile_seconds:.1f}s"
              for s in self.steps]
    lines.append(f"  peak per device: {b(self.peak_bytes)} (the largest step with what "
                 "stays resident beside it)")
    lines.append(f"  model FLOPs per {self.unit} (the model kind's count, all devices): "
                 f"{self.model_flops_per_step:.4g} over {self.tokens_per_step:,} tokens")
    if jax.devices()[0].platform == "cpu":
      lines.append("  memory: XLA:CPU's estimate for simulated devices; a TPU or GPU "
                   "compiler plans its own buffers")
    return "\n".join(lines)


def _compiled(name, compile_fn, beside=()) -> CompiledStep:
  start = time.perf_counter()
  compiled = compile_fn()
  return CompiledStep(name, aot_sizing.compiled_size(compiled), time.perf_counter() - start,
                      beside)


def _lowered(jitted, mesh, rules, *args):
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    return jitted.lower(*args).compile()


def _ids(*shape, sharding=None, dtype=jnp.int32):
  return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)


def _mesh_and_rules(args):
  return (args.get("mesh") or partitioning.make_mesh(),
          args.get("rules") or partitioning.logical_axis_rules())


def _sequence_example(model, rows, prompt_length, response_length):
  return jax.eval_shape(lambda p, r: model.sequence_batch(p, r, 1)[0],
                        _ids(rows, prompt_length), _ids(rows, response_length))


def _state_bytes(prefix: str, state) -> dict:
  return {f"{prefix}parameters": aot_sizing.per_device_bytes(state.params),
          f"{prefix}optimizer state": aot_sizing.per_device_bytes(state.opt_state)}


def _frozen_bytes(abstract_frozen) -> dict:
  return {"frozen base": aot_sizing.per_device_bytes(abstract_frozen)} if abstract_frozen else {}


def _shardings_of(abstract):
  return jax.tree.map(lambda leaf: leaf.sharding, abstract)


def _abstract_rng():
  return jax.eval_shape(lambda: jax.random.key(0))


def _beside(resident: dict, *read: str) -> tuple:
  """The resident entries a compiled function does not read but runs beside."""
  return tuple(name for name in resident if name not in read)


def _compiled_sampler(model, params, param_shardings, mesh, rules, rows: int,
                      prompt_length: int, response_length: int, beside, *,
                      temperature: float = 1.0, compute_dtype=None) -> CompiledStep:
  """The rollout's decode loop (KV cache of prompt + response slots), as the stage builds it."""
  sample = rollout.make_sampler(model, mesh, rules, param_shardings,
                                max_new_tokens=response_length, temperature=temperature,
                                eos_id=1, compute_dtype=compute_dtype)
  return _compiled(f"generate ({rows} x {prompt_length} + {response_length} tokens, KV cache)",
                   lambda: sample.compile_for(params, _ids(rows, prompt_length),
                                              _abstract_rng()), beside=beside)


@dataclasses.dataclass(frozen=True)
class AbstractPolicy:
  """What a stage trains, as trainer/rlhf/policy_weights.load lays it out: state /
  shardings, the TrainState (the trained delta's under PEFT); frozen, the frozen base ({}
  without PEFT), an argument of every step; reference, the reference's tree (under PEFT
  the base itself, no second copy); resident, their per-device bytes by name."""
  state: train_state.TrainState
  shardings: train_state.TrainState
  frozen: dict
  reference: dict
  resident: dict

  @property
  def reference_beside(self) -> tuple:
    """The resident entry a step that does not read the reference runs beside."""
    return ("reference parameters",) if "reference parameters" in self.resident else ()


def _sampled_policy(model, policy: AbstractPolicy):
  """The (parameters, shardings) the sampler decodes with: the frozen base joined to the
  trained part, as trainer/rlhf/policy_weights.PolicyWeights joins them."""
  return (model.join_params(policy.frozen, policy.state.params),
          model.join_params(_shardings_of(policy.frozen), policy.shardings.params))


def _abstract_policy(model, optimizer, example, mesh, rules, prefix: str = "") -> AbstractPolicy:
  if model.peft is None:
    state, shardings = train_state.state_shardings(model.module, optimizer, example, mesh,
                                                   rules)
    resident = _state_bytes(prefix, state)
    resident["reference parameters"] = resident[f"{prefix}parameters"]
    return AbstractPolicy(state, shardings, {}, state.params, resident)
  abstract_all, _ = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  base = model.base_params(abstract_all)
  frozen = model.split_params(base)[0]
  state, shardings = train_state.state_shardings(model.module, optimizer, example, mesh, rules,
                                                 lambda params: model.split_params(params)[1])
  return AbstractPolicy(state, shardings, frozen, base,
                        dict(_frozen_bytes(frozen), **_state_bytes(prefix, state)))


def size_sft(args) -> DryRun:
  model, optimizer, batch_size = args["model"], args["optimizer"], args["batch_size"]
  mesh, rules = _mesh_and_rules(args)
  shapes = compile_step.train_batch_shapes(model, args["task_feature_lengths"], batch_size)
  policy = _abstract_policy(model, optimizer, shapes, mesh, rules)
  abstract_batch = compile_step.abstract_batch_from_shapes(shapes, mesh, rules)
  step = _compiled("train step", lambda: compile_step.compile_sft_step(
      model, optimizer, args["learning_rate"], policy.state, policy.shardings, abstract_batch,
      mesh, rules, num_microbatches=args["num_microbatches"], z_loss=args["z_loss"],
      label_smoothing=args["label_smoothing"], dropout_seed=args["seed"],
      abstract_frozen=policy.frozen or None))
  # The SFT stage holds no reference.
  resident = {k: v for k, v in policy.resident.items() if k != "reference parameters"}
  lengths = model.batch_lengths(shapes)
  return DryRun("SFT", dict(mesh.shape), resident, [step], batch_size * sum(lengths),
                model.train_flops(batch_size, *lengths),
                train_state.param_count(policy.state.params))


def size_reward_model(args, responses_per_prompt: int) -> DryRun:
  model, optimizer, batch_size = args["model"], args["optimizer"], args["batch_size"]
  prompt_length, response_length = args["prompt_length"], args["response_length"]
  mesh, rules = _mesh_and_rules(args)
  k = responses_per_prompt
  reward_model = model.scalar_head(with_peft=True)
  example = _sequence_example(model, batch_size * k, prompt_length, response_length)
  abstract_frozen, trainable = {}, None
  if model.peft is not None:  # the trunk is the frozen base, as in the stage
    abstract_all, _ = restore.abstract_params(reward_model, model.init_batch(), mesh, rules)
    abstract_frozen = reward_model.split(abstract_all)[0]
    trainable = lambda params: reward_model.split(params)[1]
  abstract_state, shardings = train_state.state_shardings(reward_model, optimizer, example,
                                                          mesh, rules, trainable)
  rows = reward_loop.comparison_batch_shardings(mesh, rules)
  batch = {"prompts": _ids(batch_size, prompt_length, sharding=rows["prompts"]),
           "responses": _ids(batch_size, k, response_length, sharding=rows["responses"]),
           "ranks": _ids(batch_size, k, sharding=rows["ranks"])}
  jitted = reward_loop.jit_reward_step(model, reward_model, optimizer, args["learning_rate"],
                                       shardings, _shardings_of(abstract_frozen), mesh, rules,
                                       eos_id=1, seed=args["seed"])
  step = _compiled(f"reward-model step ({k} responses per prompt)",
                   lambda: _lowered(jitted, mesh, rules, abstract_state, batch, abstract_frozen))
  cost = stage_flops.reward_model_step(model, batch_size, k, prompt_length, response_length)
  return DryRun("reward model", dict(mesh.shape),
                dict(_frozen_bytes(abstract_frozen), **_state_bytes("", abstract_state)),
                [step], cost.tokens, cost.flops, train_state.param_count(abstract_state.params))


def _ptx_batch(model, args, mesh):
  """The PPO-ptx rows of one iteration, [epochs, minibatches, rows, length], replicated
  as the host batch the update receives."""
  config = args["config"]
  shapes = compile_step.train_batch_shapes(model, args["ptx_feature_lengths"],
                                           args["ptx_batch_size"])
  lead = (config.epochs, config.num_minibatches)
  return {k: jax.ShapeDtypeStruct(lead + v.shape, v.dtype,
                                  sharding=partitioning.replicated(mesh))
          for k, v in shapes.items()}


def size_ppo(args) -> DryRun:
  model, config, batch_size = args["model"], args["config"], args["batch_size"]
  prompt_length, response_length = args["prompt_length"], args["response_length"]
  mesh, rules = _mesh_and_rules(args)
  value_model = model.scalar_head()
  example = _sequence_example(model, batch_size, prompt_length, response_length)
  policy = _abstract_policy(model, args["policy_optimizer"], example, mesh, rules, "policy ")
  abstract, shardings = ppo_state.with_value_model(
      policy.state, policy.shardings, value_model, args["value_optimizer"], example, mesh,
      rules)
  rows = partitioning.batch_sharding(mesh, rules, 2)
  prompts = _ids(batch_size, prompt_length, sharding=rows)
  responses = _ids(batch_size, response_length, sharding=rows)
  per_token = _ids(batch_size, response_length, sharding=rows, dtype=jnp.float32)
  scores = _ids(batch_size, sharding=partitioning.batch_sharding(mesh, rules, 1),
                dtype=jnp.float32)
  episodes = {"prompts": prompts, "responses": responses, "logprobs": per_token,
              "ref_logprobs": per_token, "values": per_token, "scores": scores}
  use_ptx = config.ptx_coef > 0
  ptx = _ptx_batch(model, args, mesh) if use_ptx else None
  rng = _abstract_rng()
  update = ppo_loop.jit_ppo_update(model, value_model, args["policy_optimizer"],
                                   args["value_optimizer"], config, args["kl_controller"],
                                   shardings, _shardings_of(policy.frozen), mesh, eos_id=1)
  score = rollout.jit_score(model, value_model, mesh, rules, _shardings_of(policy.reference),
                            shardings.value.params, eos_id=1)
  resident = dict(policy.resident, **_state_bytes("value ", abstract.value))
  resident["reward-model parameters"] = resident["value parameters"]
  steps = [
      _compiled_sampler(model, *_sampled_policy(model, policy), mesh, rules, batch_size,
                        prompt_length, response_length,
                        _beside(resident, "policy parameters", "frozen base"),
                        temperature=args["temperature"]),
      _compiled("score (reference, value, reward model)", lambda: _lowered(
          score, mesh, rules, policy.reference, abstract.value.params,
          abstract.value.params, prompts, responses),
          beside=("policy parameters", "policy optimizer state", "value optimizer state")),
      _compiled("PPO update" + (" with ptx" if use_ptx else ""), lambda: _lowered(
          update, mesh, rules, abstract, episodes, ptx, rng, policy.frozen),
          beside=policy.reference_beside + ("reward-model parameters",))]
  ptx_rows = config.epochs * config.num_minibatches * args["ptx_batch_size"] if use_ptx else 0
  cost = stage_flops.ppo_iteration(
      model, batch_size, prompt_length, response_length, epochs=config.epochs,
      ptx_rows=ptx_rows,
      ptx_lengths=model.batch_lengths({k: v[0, 0] for k, v in ptx.items()}) if use_ptx
      else (0, 0))
  return DryRun("PPO", dict(mesh.shape), resident, steps, cost.tokens, cost.flops,
                train_state.param_count(policy.state.params),
                unit="iteration (generate + score + update)")


def size_dpo(args) -> DryRun:
  model, optimizer, config = args["model"], args["optimizer"], args["config"]
  batch_size = args["batch_size"]
  prompt_length, response_length = args["prompt_length"], args["response_length"]
  mesh, rules = _mesh_and_rules(args)
  example = _sequence_example(model, 2 * batch_size, prompt_length, response_length)
  policy = _abstract_policy(model, optimizer, example, mesh, rules)
  online = dpo_loop.reads_reference_online(config)
  rows = dpo_loop.batch_shardings(mesh, rules, config.uses_reference and not online)
  lengths = {"prompts": (prompt_length,), "chosen": (response_length,),
             "rejected": (response_length,), "reference_chosen": (),
             "reference_rejected": ()}
  batch = {k: _ids(batch_size, *lengths[k], sharding=sharding,
                   dtype=jnp.float32 if k.startswith("reference") else jnp.int32)
           for k, sharding in rows.items()}
  jitted = dpo_loop.jit_dpo_step(model, optimizer, args["learning_rate"], config,
                                 policy.shardings, mesh, rules, 1, _shardings_of(policy.frozen),
                                 _shardings_of(policy.reference))
  step = _compiled(f"{config.loss_type.upper()} step", lambda: _lowered(
      jitted, mesh, rules, policy.state, policy.reference if online else None, batch,
      policy.frozen), beside=() if online else policy.reference_beside)
  cost = stage_flops.dpo_step(model, batch_size, prompt_length, response_length, online)
  return DryRun(config.loss_type.upper(), dict(mesh.shape), policy.resident, [step],
                cost.tokens, cost.flops, train_state.param_count(policy.state.params))


def size_grpo(args) -> DryRun:
  model, optimizer, config = args["model"], args["optimizer"], args["config"]
  samples = args["prompts_per_iteration"] * config.group_size
  prompt_length, response_length = args["prompt_length"], args["response_length"]
  mesh, rules = _mesh_and_rules(args)
  example = _sequence_example(model, samples, prompt_length, response_length)
  policy = _abstract_policy(model, optimizer, example, mesh, rules)
  rows = partitioning.batch_sharding(mesh, rules, 2)
  per_token = _ids(samples, response_length, sharding=rows, dtype=jnp.float32)
  samples_batch = {
      "prompts": _ids(samples, prompt_length, sharding=rows),
      "responses": _ids(samples, response_length, sharding=rows), "logprobs": per_token,
      "ref_logprobs": per_token,
      "rewards": _ids(samples, sharding=partitioning.batch_sharding(mesh, rules, 1),
                      dtype=jnp.float32)}
  update = grpo_loop.jit_grpo_update(model, optimizer, config, policy.shardings,
                                     _shardings_of(policy.frozen), mesh, eos_id=1)
  resident = dict(policy.resident)
  beside = list(policy.reference_beside)
  reward_module = reward_abstract = None
  if grpo_rewards.REWARD_MODEL in (args["reward_weights"] or {}):
    reward_module = model.scalar_head()
    reward_abstract, _ = restore.abstract_params(reward_module, model.init_batch(), mesh,
                                                 rules)
    resident["reward-model parameters"] = aot_sizing.per_device_bytes(reward_abstract)
    beside.append("reward-model parameters")
  score = rollout.jit_reference_score(
      model, mesh, rules, _shardings_of(policy.reference), reward_module,
      None if reward_abstract is None else _shardings_of(reward_abstract), eos_id=1)
  steps = [
      _compiled_sampler(model, *_sampled_policy(model, policy), mesh, rules, samples,
                        prompt_length, response_length,
                        _beside(resident, "parameters", "frozen base"),
                        temperature=args["temperature"], compute_dtype=args["sampler_dtype"]),
      _compiled("score (reference" + (", reward model)" if reward_module else ")"),
                lambda: _lowered(score, mesh, rules, policy.reference, reward_abstract,
                                 samples_batch["prompts"], samples_batch["responses"]),
                beside=_beside(resident, "reference parameters", "frozen base",
                               "reward-model parameters")),
      _compiled(f"{config.estimator} update", lambda: _lowered(
          update, mesh, rules, policy.state, samples_batch, _abstract_rng(), policy.frozen),
          beside=tuple(beside))]
  cost = stage_flops.grpo_iteration(model, samples, prompt_length, response_length,
                                    epochs=config.epochs, reward_model=reward_module is not None)
  return DryRun(config.estimator.upper(), dict(mesh.shape), resident, steps, cost.tokens,
                cost.flops, train_state.param_count(policy.state.params),
                unit="iteration (generate + score + update)")


def size_comparison_sampling(args) -> DryRun:
  """One batch of the K samples per prompt the reward model is later trained to rank."""
  model, batch_size = args["model"], args["batch_size"]
  prompt_length, response_length = args["prompt_length"], args["response_length"]
  frozen_base.refuse_peft(model, "sample_comparisons")
  mesh, rules = _mesh_and_rules(args)
  params, shardings = restore.abstract_params(model.module, model.init_batch(), mesh, rules)
  resident = {"parameters": aot_sizing.per_device_bytes(params)}
  step = _compiled_sampler(model, params, shardings, mesh, rules, batch_size, prompt_length,
                           response_length, beside=())
  cost = stage_flops.rollout(model, batch_size, prompt_length, response_length)
  return DryRun("comparison sampling", dict(mesh.shape), resident, [step], cost.tokens,
                cost.flops, train_state.param_count(params), unit="sampling batch")


def stage_arguments(stage) -> dict:
  """The stage function's defaults overlaid with what gin binds for it (references
  evaluated, e.g. the model kind and the optimizer)."""
  defaults = {name: p.default for name, p in inspect.signature(stage).parameters.items()
              if p.default is not inspect.Parameter.empty}
  return dict(defaults, **gin.get_bindings(stage))


@gin.configurable
def dry_run(stage, responses_per_prompt: int = DEFAULT_RESPONSES_PER_PROMPT) -> DryRun:
  """Sizes `stage` (run_stage.stage) as gin configures it.
  responses_per_prompt: K, the reward model's responses per prompt."""
  sizers = {loop.train: size_sft,
            reward_loop.train_reward_model: lambda args: size_reward_model(
                args, responses_per_prompt),
            ppo_loop.train_ppo: size_ppo, dpo_loop.train_dpo: size_dpo,
            grpo_loop.train_grpo: size_grpo,
            comparison_sampling.sample_comparisons: size_comparison_sampling}
  if stage not in sizers:
    raise ValueError(f"--dry_run sizes the stages {[s.__name__ for s in sizers]}; "
                     f"run_stage.stage is {getattr(stage, '__name__', stage)!r}")
  return sizers[stage](stage_arguments(stage))
