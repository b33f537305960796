"""A task type of the embedded suite: a seeded example generator plus its templates."""
import dataclasses
import functools
import random
from typing import Any, Callable, Mapping, Sequence

from tasks.templates import Template

SPLITS = ("train", "validation", "test")
DEFAULT_SPLIT_SIZES = {"train": 2000, "validation": 100, "test": 100}
# The examples are content, not a training choice: they are fixed by this seed and the task
# name, and a run's seed only changes template choice, option layout and order.
CONTENT_SEED = 20240517


@dataclasses.dataclass(frozen=True, eq=False)  # identity hash: cached per object
class TaskType:
  """name: registry name stem; make_example(rng) returns the example's fields.

  Fields every example carries: those named by `input_fields` (what the question is about,
  also the dedup key that keeps the splits disjoint) and `answer`; classification examples
  also carry `options` (a list containing `answer`), multi-step ones a `rationale`.
  """
  name: str
  cluster: str
  make_example: Callable[[random.Random], dict[str, Any]]
  templates: tuple[Template, ...]
  input_fields: tuple[str, ...]
  split_sizes: Mapping[str, int] = dataclasses.field(
      default_factory=lambda: dict(DEFAULT_SPLIT_SIZES))
  metric: str = "exact_match"  # or "rouge" for free text
  # The split an example may go to (e.g. the split of the entity it asks about, so held-out
  # entities never reach training); None: any split.
  split_of: Callable[[Mapping[str, Any]], str] | None = None

  @property
  def is_classification(self) -> bool:
    return any("{options_}" in t.input for t in self.templates)

  @property
  def has_cot(self) -> bool:
    return any(t.cot for t in self.templates)

  def templates_for(self, cot: bool) -> tuple[Template, ...]:
    return tuple(t for t in self.templates if t.cot == cot)

  def key(self, example: Mapping[str, Any]) -> str:
    return "\x1f".join(str(example[f]) for f in self.input_fields)

  def examples(self, split: str) -> Sequence[dict[str, Any]]:
    return _examples_by_split(self)[split]


@functools.cache
def _examples_by_split(task: TaskType) -> dict[str, tuple[dict[str, Any], ...]]:
  """Generates test first, then validation, then train, never repeating a key across them.

  A small input space (e.g. a word list) yields fewer examples than asked; the split keeps
  what it got and `split_sizes` reported by `python -m tasks list` is the real count.
  """
  rng = random.Random(f"{CONTENT_SEED}/{task.name}")
  seen: set[str] = set()
  out = {}
  for split in ("test", "validation", "train"):
    wanted, examples, misses = task.split_sizes[split], [], 0
    while len(examples) < wanted and misses < 20 * wanted + 200:
      example = task.make_example(rng)
      key = task.key(example)
      if key in seen or (task.split_of is not None and task.split_of(example) != split):
        misses += 1
        continue
      seen.add(key)
      examples.append(example)
    out[split] = tuple(examples)
  return out
