"""jax.distributed.initialize with a deadline that ends in a message, not a hang or a crash.

jax's own `initialization_timeout`, once it passes, terminates the process from C++ with
"DEADLINE_EXCEEDED" and no word of which process is missing. So jax gets a little longer
than the deadline, while this thread waits for the deadline itself and then raises
ProcessesDidNotJoinError (a user error), which says who is waiting for whom.
"""
import threading

import jax

# jax's own timeout must fire after ours, or its crash would come first.
_JAX_GRACE_S = 30


class ProcessesDidNotJoinError(TimeoutError):
  pass


def _not_joined_message(coordinator_address: str | None, num_processes: int | None,
                        process_id: int | None, timeout_s: int) -> str:
  if process_id == 0:
    missing = ("process 1 did not" if num_processes == 2
               else f"processes 1 to {num_processes - 1} did not all")
    who = (f"process 0 of {num_processes} (the coordinator, at {coordinator_address}): "
           f"{missing} join within {timeout_s} s")
  else:
    who = (f"process {process_id} of {num_processes}: could not join the coordinator at "
           f"{coordinator_address} within {timeout_s} s (process 0 is not reachable there, "
           f"or another process did not join it)")
  return (f"{who}; start every process with --num_processes={num_processes} and its own "
          f"--process_id, or raise --initialization_timeout")


def initialize(coordinator_address: str | None, num_processes: int | None,
               process_id: int | None, timeout_s: int):
  """jax.distributed.initialize, raising ProcessesDidNotJoinError if the processes have
  not all joined after `timeout_s` seconds."""
  joined, failures = threading.Event(), []

  def connect():
    try:
      jax.distributed.initialize(coordinator_address, num_processes, process_id,
                                 initialization_timeout=timeout_s + _JAX_GRACE_S)
    except Exception as e:  # pylint: disable=broad-except
      failures.append(e)
    finally:
      joined.set()

  # A daemon, so that the process can exit while the thread still waits inside jax.
  threading.Thread(target=connect, name="jax.distributed.initialize", daemon=True).start()
  if not joined.wait(timeout_s):
    raise ProcessesDidNotJoinError(_not_joined_message(coordinator_address, num_processes,
                                                       process_id, timeout_s))
  if failures:
    raise failures[0]
