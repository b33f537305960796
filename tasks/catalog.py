"""What `python -m tasks list` reports about each registered task: cluster, template
counts and split sizes. Split sizes are a callable so listing a task whose data is absent
(TFDS) reports the published sizes without touching the data."""
import dataclasses
from typing import Callable, Mapping

import seqio


@dataclasses.dataclass(frozen=True)
class Entry:
  name: str
  cluster: str
  templates: int
  inverted_templates: int
  split_sizes: Callable[[], Mapping[str, int]]


_ENTRIES: dict[str, Entry] = {}


def add(entry: Entry) -> None:
  _ENTRIES[entry.name] = entry


def entry(name: str) -> Entry | None:
  return _ENTRIES.get(name)


def describe(name: str) -> dict:
  """A task's or mixture's row: a mixture sums its tasks and joins their clusters."""
  if name in _ENTRIES:
    e = _ENTRIES[name]
    return {"name": name, "kind": "task", "cluster": e.cluster, "templates": e.templates,
            "inverted_templates": e.inverted_templates, "splits": dict(e.split_sizes())}
  if name in seqio.MixtureRegistry.names():
    mixture = seqio.get_mixture_or_task(name)
    rows = [describe(t.name) for t in mixture.tasks]
    splits: dict[str, int] = {}
    for row in rows:
      for split, n in row["splits"].items():
        splits[split] = splits.get(split, 0) + (n or 0)
    return {"name": name, "kind": "mixture",
            "cluster": ",".join(sorted({c for r in rows for c in r["cluster"].split(",")})),
            "templates": sum(r["templates"] for r in rows),
            "inverted_templates": sum(r["inverted_templates"] for r in rows),
            "splits": splits, "tasks": len(rows)}
  raise KeyError(f"{name!r} is neither a registered task nor a mixture")
