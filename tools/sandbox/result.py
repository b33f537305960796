"""The outcome of one sandboxed run, as data: nothing a program does raises into the caller."""
import dataclasses

OK = "ok"
ERROR = "error"
TIMEOUT = "timeout"
MEMORY = "memory"
OUTPUT_LIMIT = "output_limit"
SANDBOX_UNAVAILABLE = "sandbox_unavailable"
STATUSES = (OK, ERROR, TIMEOUT, MEMORY, OUTPUT_LIMIT, SANDBOX_UNAVAILABLE)


@dataclasses.dataclass(frozen=True)
class SandboxResult:
  """status: one of STATUSES. answer: on `ok`, the value `solution()` returned (as str) when the
  program defines one, else its stripped stdout; None otherwise. detail: why a run is not ok
  (the exception, the limit that was hit, or why the sandbox could not start)."""
  status: str
  answer: str | None
  stdout: str
  stderr_tail: str
  detail: str
  exit_code: int | None
  seconds: float

  def __post_init__(self):
    if self.status not in STATUSES:
      raise ValueError(f"unknown sandbox status {self.status!r}; expected one of {STATUSES}")

  @property
  def ok(self) -> bool:
    return self.status == OK

  def to_json(self) -> dict:
    return dataclasses.asdict(self)
