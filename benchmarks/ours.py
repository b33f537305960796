"""Our side of the benchmarks: the jitted SFT step of trainer/ and the compiled decoding
loop of models/decoding.py, on the shapes of configs.py.

Same optimizer as the HuggingFace side (AdamW, betas 0.9/0.999, no weight decay, no
clipping, constant rate), fp32 parameters, dropout off, random int batches.

  python -m benchmarks.ours --train t5_v1_1_small --steps 5
  python -m benchmarks.ours --decode smollm2_135m --steps 3
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import configs
from benchmarks import timing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def architecture(shape) -> dict:
  """The ModelConfig fields a benchmark shape fixes (what the HuggingFace side also builds)."""
  if shape.is_encoder_decoder:
    return dict(
        vocab_size=shape.vocab_size, emb_dim=shape.d_model, num_heads=shape.num_heads,
        head_dim=shape.head_dim, mlp_dim=shape.mlp_dim,
        num_encoder_layers=shape.num_encoder_layers,
        num_decoder_layers=shape.num_decoder_layers, mlp_activations=("gelu", "linear"),
        position_encoding="relative_bias",
        relative_attention_num_buckets=shape.relative_attention_num_buckets,
        relative_attention_max_distance=shape.relative_attention_max_distance,
        tie_embeddings=False)
  return dict(
      vocab_size=shape.vocab_size, emb_dim=shape.d_model, num_heads=shape.num_heads,
      num_kv_heads=shape.num_kv_heads, head_dim=shape.head_dim, mlp_dim=shape.mlp_dim,
      num_decoder_layers=shape.num_layers, mlp_activations=("silu", "linear"),
      position_encoding="rope", rope_theta=shape.rope_theta,
      tie_embeddings=shape.tie_embeddings)


def model_config(shape, **overrides):
  """The ModelConfig our users get from the shape's gin model file, checked against the shape.

  The gin file supplies everything the shape leaves open (initialisers, norm epsilon,
  scan/remat); `overrides` change performance knobs (dtype, scan_layers, remat_policy) but
  never the architecture. Dropout is off on both sides.
  """
  import gin
  import models
  import trainer.configurables  # noqa: F401  (the names gin model files use)

  fixed = architecture(shape)
  clash = set(overrides) & set(fixed)
  if clash:
    raise ValueError(f"model_config overrides may not change the architecture: {sorted(clash)}")
  gin.clear_config()
  gin.add_config_file_search_path(REPO)
  try:
    gin.parse_config_file(os.path.join(REPO, shape.gin_file))
    for field, value in fixed.items():
      try:
        bound = gin.query_parameter(f"ModelConfig.{field}")
      except ValueError:
        continue  # left open by the gin file: the shape sets it
      if (tuple(bound) if isinstance(bound, list) else bound) != value:
        raise ValueError(f"benchmark shape {shape.name}: {shape.gin_file} sets "
                         f"ModelConfig.{field} = {bound!r} but benchmarks/configs.py says "
                         f"{value!r}")
    return models.ModelConfig(**fixed, **{"dropout_rate": 0.0, **overrides})
  finally:
    gin.clear_config()


def batch_shapes(is_encoder_decoder: bool, batch: configs.TrainBatch) -> dict:
  """{feature: ShapeDtypeStruct} of one train batch, in seqio's feature-converter names."""
  def ints(length):
    return jax.ShapeDtypeStruct((batch.batch_size, length), jnp.int32)

  def weights(length):
    return jax.ShapeDtypeStruct((batch.batch_size, length), jnp.float32)

  if is_encoder_decoder:
    return {"encoder_input_tokens": ints(batch.input_length),
            "decoder_input_tokens": ints(batch.target_length),
            "decoder_target_tokens": ints(batch.target_length),
            "decoder_loss_weights": weights(batch.target_length)}
  return {"decoder_input_tokens": ints(batch.input_length),
          "decoder_target_tokens": ints(batch.input_length),
          "decoder_loss_weights": weights(batch.input_length)}


def random_batch(case: configs.TrainCase, seed: int = 0) -> dict:
  """Random ids from 3 up (no padding), decoder inputs = targets shifted right by one."""
  rng = np.random.default_rng(seed)
  shapes = batch_shapes(case.shape.is_encoder_decoder, case.batch)
  targets_shape = shapes["decoder_target_tokens"].shape
  targets = rng.integers(3, case.shape.vocab_size, targets_shape, dtype=np.int32)
  batch = {"decoder_target_tokens": targets,
           "decoder_input_tokens": np.pad(targets[:, :-1], ((0, 0), (1, 0))),
           "decoder_loss_weights": np.ones(targets_shape, np.float32)}
  if "encoder_input_tokens" in shapes:
    batch["encoder_input_tokens"] = rng.integers(
        3, case.shape.vocab_size, shapes["encoder_input_tokens"].shape, dtype=np.int32)
  return batch


def benchmark_optimizer():
  """AdamW as the HuggingFace side runs it (torch.optim.AdamW defaults, no decay)."""
  from trainer import optimizers

  return optimizers.adamw(configs.LEARNING_RATE, b1=0.9, b2=0.999, eps=1e-8,
                          weight_decay=configs.WEIGHT_DECAY, max_grad_norm=None)


@dataclasses.dataclass(frozen=True)
class StepSetup:
  """Everything the step and the state are built from, on a one-device mesh."""

  case: configs.TrainCase
  model: Any  # models.ModelKind
  optimizer: Any
  mesh: Any
  rules: Any
  abstract_state: Any
  shardings: Any
  # A parameter-efficient model's frozen base (ShapeDtypeStructs with their shardings), an
  # argument of every step; None in full fine-tuning.
  abstract_frozen: Any = None

  @property
  def batch_shapes(self) -> dict:
    return batch_shapes(self.case.shape.is_encoder_decoder, self.case.batch)


def step_setup(case: configs.TrainCase, model=None, **config_overrides) -> StepSetup:
  """`model`: a model kind of the case's shape to run instead of the one `model_config`
  builds (e.g. one with a PEFT method: the state then holds only its trainable part)."""
  import models
  from trainer import frozen_base
  from trainer import partitioning
  from trainer import train_state

  if model is not None and config_overrides:
    raise ValueError(f"step_setup: config overrides {sorted(config_overrides)} apply to the "
                     f"shape's own model, not to a given one")
  mesh = partitioning.make_mesh(data=1, fsdp=1, model=1, devices=jax.devices()[:1])
  rules = partitioning.logical_axis_rules()
  model = model or models.make_model(model_config(case.shape, **config_overrides))
  optimizer = benchmark_optimizer()
  abstract_state, shardings = train_state.state_shardings(
      model.module, optimizer, batch_shapes(case.shape.is_encoder_decoder, case.batch), mesh,
      rules, frozen_base.trainable_part(model))
  frozen = None if model.peft is None else frozen_base.abstract_frozen(model, mesh, rules)
  return StepSetup(case, model, optimizer, mesh, rules, abstract_state, shardings, frozen)


def compile_train_step(setup: StepSetup):
  """(compiled SFT step, seconds to lower and compile it); with a frozen base the step is
  (state, batch, frozen) -> (state, metrics), as trainer/loop.py runs it."""
  import optax
  from trainer import compile_step

  abstract_batch = compile_step.abstract_batch_from_shapes(setup.batch_shapes, setup.mesh,
                                                           setup.rules)
  start = time.perf_counter()
  compiled = compile_step.compile_sft_step(
      setup.model, setup.optimizer, optax.constant_schedule(configs.LEARNING_RATE),
      setup.abstract_state, setup.shardings, abstract_batch, setup.mesh, setup.rules,
      abstract_frozen=setup.abstract_frozen)
  return compiled, time.perf_counter() - start


def init_state(setup: StepSetup, seed: int = 0):
  """(train state on the device, seconds to initialise it, compilation included).

  An unscanned model is initialised through its scanned twin, then unstacked: one layer's
  initialisers compile instead of every layer's (T5 v1.1 base: 9.3 s instead of 26.4 s).
  The weights are random either way; only the step is measured.
  """
  import flax.linen as nn
  import models
  from models.stack import unstack_layers
  from trainer.train_state import TrainState

  scanned = models.make_model(dataclasses.replace(setup.model.config, scan_layers=True)).module
  example = {k: np.zeros(s.shape, s.dtype) for k, s in setup.batch_shapes.items()}

  def init(rng):
    params = nn.unbox(scanned.init({"params": rng}, example)["params"])
    if not setup.model.config.scan_layers:
      params = unstack_layers(params)
    return TrainState(jnp.zeros((), jnp.int32), params, setup.optimizer.init(params))

  start = time.perf_counter()
  with jax.set_mesh(setup.mesh), nn.logical_axis_rules(setup.rules):
    state = jax.jit(init, out_shardings=setup.shardings)(jax.random.key(seed))
  jax.block_until_ready(state)
  return state, time.perf_counter() - start


def phase_calls(setup: StepSetup, params, batch) -> dict:
  """The SFT step's loss alone and with its gradient, jitted apart from the update."""
  def loss(p):
    return setup.model.loss_sums(p, batch)["loss_sum"]

  forward = jax.jit(loss)
  forward_backward = jax.jit(jax.grad(loss))
  with jax.set_mesh(setup.mesh):
    jax.block_until_ready((forward(params), forward_backward(params)))  # compile
  return {"forward": lambda: jax.block_until_ready(forward(params)),
          "forward_backward": lambda: jax.block_until_ready(forward_backward(params))}


# Trained parameters of shapes that also have decode cases, kept by a long-lived worker
# (benchmarks/worker.py) so the decode benchmark of the shape skips a second initialisation
# (its compile alone takes ~25 s for T5 v1.1 small here). Decoding speed does not depend on
# the parameter values.
_TRAINED_PARAMS: dict[tuple, Any] = {}


def _params_key(shape, config_overrides: dict) -> tuple:
  return shape.name, tuple(sorted((k, str(v)) for k, v in config_overrides.items()))


def train(case: configs.TrainCase, steps: int, warmup: int = 2, phases: bool = False,
          **config_overrides) -> dict:
  """Tokens/s of the compiled SFT step on one device; compile and init timed apart. With
  `phases`, also the median seconds of the forward pass alone and of forward + backward."""
  from trainer import aot_sizing, train_state

  setup = step_setup(case, **config_overrides)
  compiled, compile_seconds = compile_train_step(setup)
  state, init_seconds = init_state(setup)
  batch = jax.device_put(random_batch(case), compiled.input_shardings[0][1])
  losses = []

  def step():
    nonlocal state
    state, metrics = compiled(state, batch)
    losses.append(jax.block_until_ready(metrics)["loss"])

  timings = timing.time_calls(step, repeats=steps, warmup=warmup)
  phase_seconds = (timing.phase_medians(phase_calls(setup, state.params, batch), timings, steps)
                   if phases else None)
  if any(c.shape.name == case.shape.name for c in configs.DECODE_CASES):
    _TRAINED_PARAMS[_params_key(case.shape, config_overrides)] = state.params
  return timing.train_report(
      case, "ours", timings, losses, parameters=train_state.param_count(state.params),
      phase_seconds=phase_seconds, compile_seconds=compile_seconds,
      init_seconds=init_seconds, xla_flops_per_step=aot_sizing.xla_flops(compiled),
      config={k: str(getattr(setup.model.config, k))
              for k in ("scan_layers", "remat_policy", "dtype")})


def decode_batch(case: configs.DecodeCase) -> dict:
  """Random full-length prompts of a decode case, in models/decoding.py's batch format."""
  b = case.batch
  prompts = np.random.default_rng(0).integers(3, case.shape.vocab_size,
                                              (b.batch_size, b.prompt_length), np.int32)
  if case.shape.is_encoder_decoder:
    return {"encoder_input_tokens": prompts}
  return {"decoder_prompt_tokens": prompts,
          "decoder_prompt_lengths": np.full((b.batch_size,), b.prompt_length, np.int32)}


def decode(shape, repeats: int, **config_overrides) -> list[dict]:
  """Greedy decoding with models/decoding.py's compiled KV-cache loop at each batch size
  configs.DECODE_CASES lists for `shape`, timed as HF's `generate` is: new tokens/s over
  the whole call, prefill included, no early stop."""
  from trainer import compiled_inference

  cases = configs.decode_cases(shape.name)
  # Parameters come from the train-state initialiser; the batch shape only sizes the init.
  init_batch = configs.TrainBatch(1, cases[0].batch.prompt_length,
                                  cases[0].batch.new_tokens if shape.is_encoder_decoder else 0)
  setup = step_setup(configs.TrainCase(shape, init_batch), **config_overrides)
  params = _TRAINED_PARAMS.pop(_params_key(shape, config_overrides), None)
  if params is None:
    params = init_state(setup)[0].params
  results = []
  for case in cases:
    b = case.batch
    # eos_id -1 is never sampled, so every call produces exactly `new_tokens` per row.
    run = compiled_inference.compile_generate(setup.model, setup.mesh, setup.rules,
                                              setup.shardings.params,
                                              max_new_tokens=b.new_tokens, eos_id=-1)
    batch = decode_batch(case)
    key = jax.random.key(0)
    lengths = []

    def generate():
      out = run(params, batch, key)
      lengths.append(jax.block_until_ready(out).lengths)

    start = time.perf_counter()
    generate()
    compile_seconds = time.perf_counter() - start  # compile and one full call
    timings = timing.time_calls(generate, repeats=repeats, warmup=0)
    if int(np.min(lengths[-1])) != b.new_tokens:
      raise RuntimeError(f"{case.name}: decoding produced {np.min(lengths[-1])} of "
                         f"{b.new_tokens} tokens in some row")
    results.append({"case": case.name, "side": "ours", "call_seconds": list(timings.seconds),
                    "tokens_per_second": timings.rate(b.batch_size * b.new_tokens),
                    "compile_seconds": compile_seconds})
  return results


COMPUTE_DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def main(argv=None) -> None:
  parser = configs.side_parser(__doc__.splitlines()[0])
  parser.add_argument("--scan_layers", choices=("true", "false"),
                      help="override the gin model file's ModelConfig.scan_layers")
  parser.add_argument("--remat_policy", help="override ModelConfig.remat_policy")
  args = parser.parse_args(argv)
  overrides = {"dtype": COMPUTE_DTYPES[args.dtype]}
  if args.scan_layers:
    overrides["scan_layers"] = args.scan_layers == "true"
  if args.remat_policy:
    overrides["remat_policy"] = args.remat_policy
  if args.train:
    case = next(c for c in configs.TRAIN_CASES if c.name == args.train)
    result = train(case, steps=args.steps, warmup=args.warmup, phases=args.phases, **overrides)
  else:
    result = {"cases": decode(configs.SHAPES[args.decode], repeats=args.steps, **overrides)}
  result.update(jax=jax.__version__, devices=len(jax.devices()))
  print(json.dumps(result))


if __name__ == "__main__":
  main()
