"""One long-lived process serves several measurements; a failing one is reported, not fatal."""
import os

from benchmarks import worker

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_one_worker_serves_requests_after_a_failed_one():
  jax_side = worker.Worker("ours", REPO)
  try:
    first = jax_side.request("benchmarks.hardware", "--framework", "jax", "--size", "64",
                             "--repeats", "2", timeout=120)
    failed = jax_side.request("benchmarks.hardware", "--framework", "fortran", timeout=60)
    process = jax_side._process
    second = jax_side.request("benchmarks.hardware", "--framework", "jax", "--size", "32",
                              "--repeats", "1", timeout=60)
    assert jax_side._process is process  # the same process answered after the failure
  finally:
    jax_side.close()
  assert first["jax_fp32"]["size"] == 64 and first["jax_fp32"]["calls"] == 2
  assert first["jax_fp32"]["gflops_best"] > 0 and first["process_seconds"] > 0
  assert "benchmarks.hardware --framework fortran: exit 2" in failed["error"]
  assert second["jax_fp32"]["size"] == 32
  # The second request paid no imports: far quicker than the first.
  assert second["process_seconds"] < first["process_seconds"]


def test_call_main_returns_the_last_printed_json_line():
  result = worker.call_main("benchmarks.hardware", ["--framework", "jax", "--size", "16",
                                                    "--repeats", "1"])
  assert result["jax_fp32"]["size"] == 16 and "jax" in result["versions"]
