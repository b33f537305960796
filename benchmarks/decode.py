"""Memory-bandwidth view of decoding: bytes one decode step must read, the bandwidth this
machine delivers, and the utilisation a measured tokens/s implies.

Decode at small batch is bound by memory bandwidth (REFERENCE.md section 4): every step
reads every decoder weight once plus the key/value cache, so
  steps/s <= bandwidth / bytes_per_step,  tokens/s = steps/s * batch.

  python -m benchmarks.decode   # prints the bandwidth and each decode case's bytes per step

`utilization(case, tokens_per_second, bandwidth)` is what the runner adds to the timed
decode rows of both sides (benchmarks/ours.py and benchmarks/hf_baseline.py).
"""
import argparse
import json
import time

import numpy as np

from benchmarks import configs

FP32_BYTES = 4


def _decoder_weight_count(shape) -> int:
  """Weights read per decode step: the decoder stack, its norms and the output matrix."""
  if shape.is_encoder_decoder:
    d, layers = shape.d_model, shape.num_decoder_layers
    attention = 4 * d * shape.num_heads * shape.head_dim
    per_layer = 2 * attention + 3 * d * shape.mlp_dim + 3 * d
    return layers * per_layer + d + shape.vocab_size * d  # untied output projection
  d, layers = shape.d_model, shape.num_layers
  q_and_out = 2 * d * shape.num_heads * shape.head_dim
  k_and_v = 2 * d * shape.num_kv_heads * shape.head_dim
  per_layer = q_and_out + k_and_v + 3 * d * shape.mlp_dim + 2 * d
  return layers * per_layer + d + shape.vocab_size * d  # tied: the embedding is the output


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


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--megabytes", type=int, default=512)
  args = parser.parse_args(argv)
  bandwidth = measure_bandwidth(args.megabytes)
  rows = [{"case": c.name, "bytes_per_step": bytes_per_step(c),
           "bandwidth_bound_tokens_per_s": bandwidth / bytes_per_step(c) * c.batch.batch_size}
          for c in configs.DECODE_CASES]
  print(json.dumps({"bandwidth_bytes_per_s": bandwidth, "cases": rows}, indent=2))


if __name__ == "__main__":
  main()
