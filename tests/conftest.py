"""Test-session setup: 8 simulated CPU devices, so sharding is exercised without a TPU.

XLA reads the flag once, when jax initialises its backend, so it must be set before any
test module imports jax.
"""
import os

os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
