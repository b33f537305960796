"""The embedded instruction suite: generated task types grouped into clusters."""
from tasks.suite import arithmetic
from tasks.suite import counting
from tasks.suite import lexicon
from tasks.suite import nli
from tasks.suite import paraphrase
from tasks.suite import reading
from tasks.suite import sentiment
from tasks.suite import sorting
from tasks.suite import string_editing
from tasks.suite import topic
from tasks.suite import word_relations
from tasks.suite.base import SPLITS, TaskType

TASK_TYPES: tuple[TaskType, ...] = (
    arithmetic.TASK_TYPES + counting.TASK_TYPES + sorting.TASK_TYPES
    + string_editing.TASK_TYPES + nli.TASK_TYPES + paraphrase.TASK_TYPES
    + sentiment.TASK_TYPES + topic.TASK_TYPES + reading.TASK_TYPES
    + word_relations.TASK_TYPES + lexicon.TASK_TYPES)

CLUSTERS: tuple[str, ...] = tuple(sorted({t.cluster for t in TASK_TYPES}))

# Held out together, as FLAN drops paraphrase from training when NLI is held out.
RELATED_CLUSTERS: dict[str, frozenset[str]] = {
    "nli": frozenset({"paraphrase"}),
    "paraphrase": frozenset({"nli"}),
    "sentiment": frozenset({"topic"}),  # both are label-a-text with options
    "topic": frozenset({"sentiment"}),
}


def task_type(name: str) -> TaskType:
  for t in TASK_TYPES:
    if t.name == name:
      return t
  raise KeyError(f"no embedded task type {name!r}; known: {[t.name for t in TASK_TYPES]}")


def by_cluster(cluster: str) -> tuple[TaskType, ...]:
  if cluster not in CLUSTERS:
    raise KeyError(f"no cluster {cluster!r}; known: {list(CLUSTERS)}")
  return tuple(t for t in TASK_TYPES if t.cluster == cluster)


__all__ = ["CLUSTERS", "RELATED_CLUSTERS", "SPLITS", "TASK_TYPES", "TaskType", "by_cluster",
           "task_type"]
