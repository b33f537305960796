"""Test-session setup: 8 simulated CPU devices, so sharding is exercised without a TPU.

XLA reads the flag once, when jax initialises its backend, so it must be set before any
test module imports jax.

The tests' models are tiny, so compiling dominates their time: LLVM at -O0 compiles about
40% faster and computes the same values (IEEE semantics are kept at every level). An
XLA_FLAGS that sets --xla_backend_optimization_level keeps its own level, so the exact
equality tests can be run at the default level too (the README says how).

Many tests compile the same computation (a single-device reference, a resumed run); a
persistent compilation cache, fresh for each session so no stale entry can leak in, turns
those repeats into cache hits and takes about a third off the suite's wall time.
"""
import atexit
import os
import shutil
import tempfile

_xla_flags = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
if "--xla_backend_optimization_level" not in _xla_flags:
  _xla_flags += " --xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = _xla_flags.strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache_dir = tempfile.mkdtemp(prefix="instructax-test-jit-cache-")
  atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
  os.environ["JAX_COMPILATION_CACHE_DIR"] = _cache_dir
  os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
  os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"
