"""Memory-bandwidth view of decoding: bytes one decode step must read, the bandwidth this
machine delivers, and the utilisation a measured tokens/s implies.

Decode at small batch is bound by memory bandwidth (REFERENCE.md section 4): every step
reads every decoder weight once plus the key/value cache, so
  steps/s <= bandwidth / bytes_per_step,  tokens/s = steps/s * batch.

  python -m benchmarks.decode   # prints the bandwidth and each decode case's bytes per step
  python -m benchmarks.decode --interleaved smollm2_135m --batch_size 16
      # ours and HuggingFace generate alternating in one process: on a shared machine the
      # ratio of the two is meaningful even when absolute figures drift

`utilization(case, tokens_per_second, bandwidth)` is what the runner adds to the timed
decode rows of both sides (benchmarks/ours.py and benchmarks/hf_baseline.py).
"""
import argparse
import json
import os
import time

import numpy as np

from benchmarks import configs

FP32_BYTES = 4


def _decoder_weight_count(shape) -> int:
  """Weights read per decode step: the decoder stack, its norms and the output matrix
  (T5's untied output projection; a tied decoder's embedding)."""
  d = shape.d_model
  matmuls = _layer_matmul_weights(shape)
  if shape.is_encoder_decoder:  # three norms a layer; the cross keys/values weights too
    layers, per_layer = shape.num_decoder_layers, (matmuls["decoder"]
                                                   + matmuls["cross_key_value"] + 3 * d)
  else:
    layers, per_layer = shape.num_layers, matmuls["decoder"] + 2 * d
  return layers * per_layer + d + shape.vocab_size * d


def bytes_per_step(case: configs.DecodeCase, bytes_per_value: int = FP32_BYTES) -> int:
  """Weights once, plus the whole key/value cache (our loop attends over every slot; the
  masked ones are read too), plus T5's cached cross-attention keys/values."""
  shape, b = case.shape, case.batch
  if shape.is_encoder_decoder:
    kv_width = shape.num_heads * shape.head_dim
    layers = shape.num_decoder_layers
    cache_slots = b.new_tokens + b.prompt_length  # self cache + cross cache (encoder length)
  else:
    kv_width = shape.num_kv_heads * shape.head_dim
    layers = shape.num_layers
    cache_slots = b.prompt_length + b.new_tokens
  cache = 2 * layers * b.batch_size * cache_slots * kv_width
  return (_decoder_weight_count(shape) + cache) * bytes_per_value


def _layer_matmul_weights(shape) -> dict[str, int]:
  """Matmul weights of one layer, by the part of a generate call that uses them."""
  d, attention_width = shape.d_model, shape.num_heads * shape.head_dim
  mlp = 3 * d * shape.mlp_dim
  if shape.is_encoder_decoder:
    return {"encoder": 4 * d * attention_width + mlp,
            "cross_key_value": 2 * d * attention_width,  # once per prompt token
            "decoder": 4 * d * attention_width + 2 * d * attention_width + mlp}
  kv_width = shape.num_kv_heads * shape.head_dim
  return {"decoder": 2 * d * attention_width + 2 * d * kv_width + mlp}


def fastest_call(case: configs.DecodeCase, bandwidth: float, peak_flops: float) -> dict:
  """What no implementation on this machine can beat for one generate call as we time it:
  the prompt's matmul FLOPs at the matmul peak, then every new token's step at the slower
  of reading its bytes (`bytes_per_step`) at `bandwidth` and its matmul FLOPs at the peak.
  Attention-score FLOPs and all non-matmul work count as free, so this is an upper bound.
  """
  shape, b = case.shape, case.batch
  weights = _layer_matmul_weights(shape)
  output_layer = shape.d_model * shape.vocab_size
  if shape.is_encoder_decoder:
    prompt_weights = (shape.num_encoder_layers * weights["encoder"]
                      + shape.num_decoder_layers * weights["cross_key_value"])
    step_weights = shape.num_decoder_layers * weights["decoder"] + output_layer
    prompt_flops = 2 * b.batch_size * b.prompt_length * prompt_weights
    steps = b.new_tokens  # the first step reads BOS
  else:
    layers = shape.num_layers * weights["decoder"]
    step_weights = layers + output_layer
    # Every prompt token passes the stack; only the last one the output layer.
    prompt_flops = 2 * b.batch_size * (b.prompt_length * layers + output_layer)
    steps = b.new_tokens - 1  # the prefill's logits give the first new token
  read_seconds = bytes_per_step(case) / bandwidth
  compute_seconds = 2 * b.batch_size * step_weights / peak_flops
  seconds = prompt_flops / peak_flops + steps * max(read_seconds, compute_seconds)
  return {"seconds": seconds, "tokens_per_s": b.batch_size * b.new_tokens / seconds,
          "step_bound": "bandwidth" if read_seconds >= compute_seconds else "compute"}


def measure_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
  """Bytes/s of a large array copy (read + write), the best of `repeats`."""
  source = np.ones(megabytes * 2**20 // 4, np.float32)
  target = np.empty_like(source)
  best = float("inf")
  for _ in range(repeats):
    start = time.perf_counter()
    np.copyto(target, source)
    best = min(best, time.perf_counter() - start)
  return 2 * source.nbytes / best


def utilization(case: configs.DecodeCase, tokens_per_second: float, bandwidth: float) -> dict:
  steps_per_second = tokens_per_second / case.batch.batch_size
  needed = bytes_per_step(case)
  return {"bytes_per_step": needed,
          "achieved_bytes_per_s": needed * steps_per_second,
          "bandwidth_utilization": needed * steps_per_second / bandwidth,
          "bandwidth_bound_tokens_per_s": bandwidth / needed * case.batch.batch_size}


def _ours_generate(case: configs.DecodeCase, compute_dtype=None, **config_overrides):
  """A blocking `() -> tokens [b, new]` call of our compiled greedy loop on `case`
  (float32 parameters; `compute_dtype` as `decoding.generate` takes it)."""
  import jax
  from benchmarks import ours
  from trainer import compiled_inference

  shape, b = case.shape, case.batch
  init_batch = configs.TrainBatch(1, b.prompt_length, b.new_tokens if shape.is_encoder_decoder else 0)
  setup = ours.step_setup(configs.TrainCase(shape, init_batch), **config_overrides)
  params = ours.init_state(setup)[0].params
  run = compiled_inference.compile_generate(setup.model, setup.mesh, setup.rules,
                                            setup.shardings.params,
                                            max_new_tokens=b.new_tokens, eos_id=-1,
                                            compute_dtype=compute_dtype)
  prompts = np.random.default_rng(0).integers(3, shape.vocab_size,
                                              (b.batch_size, b.prompt_length), np.int32)
  if shape.is_encoder_decoder:
    batch = {"encoder_input_tokens": prompts}
  else:
    batch = {"decoder_prompt_tokens": prompts,
             "decoder_prompt_lengths": np.full((b.batch_size,), b.prompt_length, np.int32)}
  return lambda: np.asarray(run(params, batch, jax.random.key(0)).tokens)


def _hf_generate(case: configs.DecodeCase):
  """The same for HuggingFace `generate` (greedy, KV cache, exactly `new_tokens`)."""
  import torch
  from benchmarks import hf_baseline

  model = hf_baseline.hf_model(case.shape).eval()
  b = case.batch
  prompt = torch.randint(3, case.shape.vocab_size, (b.batch_size, b.prompt_length),
                         generator=torch.Generator().manual_seed(0))

  def generate():
    with torch.inference_mode():
      return model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt),
                            do_sample=False, max_new_tokens=b.new_tokens,
                            min_new_tokens=b.new_tokens, use_cache=True)
  return generate


def interleaved(case: configs.DecodeCase, rounds: int, compute_dtype=None) -> dict:
  """Ours and HF alternating call by call after one warm-up each; the median ratio of
  per-round tokens/s (each round's pair ran under nearly the same machine load).

  OpenMP threads wait passively: spinning torch threads beside XLA's thread pool in one
  process slowed HF generate 10-20x on this shared 2-core machine.
  """
  os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # read when torch starts OpenMP
  sides = {"ours": _ours_generate(case, compute_dtype), "hf": _hf_generate(case)}
  for call in sides.values():
    call()
  seconds = {name: [] for name in sides}
  for _ in range(rounds):
    for name, call in sides.items():
      start = time.perf_counter()
      call()
      seconds[name].append(time.perf_counter() - start)
  tokens = case.batch.batch_size * case.batch.new_tokens
  return {"case": case.name, "seconds": seconds,
          "tokens_per_second": {n: tokens / float(np.median(s)) for n, s in seconds.items()},
          "ratio_ours_over_hf": float(np.median(np.array(seconds["hf"])
                                                / np.array(seconds["ours"])))}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--megabytes", type=int, default=512)
  parser.add_argument("--interleaved", choices=sorted({c.shape.name for c in configs.DECODE_CASES}),
                      help="time ours against HuggingFace generate, alternating, on this shape")
  parser.add_argument("--batch_size", type=int, default=16)
  parser.add_argument("--new_tokens", type=int, help="default: the decode case's")
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--compute_dtype", help="our decoding compute dtype, e.g. bfloat16 "
                      "(emulated, so slower, on CPUs without native bf16)")
  args = parser.parse_args(argv)
  if args.interleaved:
    case = next(c for c in configs.decode_cases(args.interleaved)
                if c.batch.batch_size == args.batch_size)
    if args.new_tokens:
      case = configs.DecodeCase(case.shape, configs.DecodeBatch(
          case.batch.batch_size, case.batch.prompt_length, args.new_tokens))
    print(json.dumps(interleaved(case, args.rounds, args.compute_dtype), indent=2))
    return
  bandwidth = measure_bandwidth(args.megabytes)
  rows = [{"case": c.name, "bytes_per_step": bytes_per_step(c),
           "bandwidth_bound_tokens_per_s": bandwidth / bytes_per_step(c) * c.batch.batch_size}
          for c in configs.DECODE_CASES]
  print(json.dumps({"bandwidth_bytes_per_s": bandwidth, "cases": rows}, indent=2))


if __name__ == "__main__":
  main()
