"""Super-NaturalInstructions task files: Definition + positive examples + instances.

Encoding (Tk-Instruct's layout): the definition, then positive examples one by one while
the prompt still fits `max_input_tokens`, then the instance:

    Definition: ...

    Positive Example 1 -
    Input: ...
    Output: ...

    Now complete the following example -
    Input: ...
    Output:

Instances carry several references; the target is the first, the "references" feature
keeps all of them so ROUGE-L / exact match take the best one.
"""
import dataclasses
import pathlib
from typing import Any, Callable

from etils import epath
import seqio
import tensorflow as tf

from tasks import catalog
from tasks import features
from tasks import json_text
from tasks import metrics
from tasks import stats
from tasks import vocab

REQUIRED_FIELDS = ("Definition", "Positive Examples", "Instances")
REFERENCES_SIGNATURE = {"references": tf.TensorSpec([None], tf.string)}
TEST_INSTANCES = 100  # per task, as in the NIv2 evaluation
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class NiTask:
  name: str
  path: str
  definition: str
  positive_examples: tuple[dict[str, str], ...]
  negative_examples: tuple[dict[str, str], ...]
  instances: tuple[dict[str, Any], ...]
  categories: tuple[str, ...]

  def split(self, split: str) -> tuple[dict[str, Any], ...]:
    """The first `TEST_INSTANCES` (at most half) are the test split, the rest train."""
    n_test = min(TEST_INSTANCES, len(self.instances) // 2)
    return self.instances[:n_test] if split == "test" else self.instances[n_test:]


def _text(value, path, field) -> str:
  if not isinstance(value, str):
    raise json_text.BadDataError(f"{path}: field {field!r} should be text, got {_kind(value)}")
  return value


def _definition(value, path) -> str:
  """NIv2 stores the Definition as a one-element list of text."""
  if isinstance(value, list) and all(isinstance(v, str) for v in value):
    value = " ".join(value)
  return _text(value, path, "Definition")


def _kind(value) -> str:
  if isinstance(value, list):
    return "a list holding " + ", ".join(sorted({type(v).__name__ for v in value}))
  return type(value).__name__


def _list(value, path, field) -> list:
  if not isinstance(value, list):
    raise json_text.BadDataError(f"{path}: field {field!r} should be a list, got {_kind(value)}")
  return value


def _examples(raw, path, field) -> tuple[dict[str, str], ...]:
  out = []
  for i, ex in enumerate(_list(raw, path, field)):
    if not isinstance(ex, dict) or "input" not in ex or "output" not in ex:
      raise json_text.BadDataError(f"{path}: {field}[{i}] needs 'input' and 'output'")
    out.append({"input": _text(ex["input"], path, f"{field}[{i}].input"),
                "output": _text(ex["output"], path, f"{field}[{i}].output"),
                "explanation": _text(ex.get("explanation", ""), path,
                                     f"{field}[{i}].explanation")})
  return tuple(out)


def load_task(path: str | pathlib.Path) -> NiTask:
  path = epath.Path(path)
  data = json_text.loads(json_text.decode_utf8(path.read_bytes(), str(path)), str(path))
  if not isinstance(data, dict):
    raise json_text.BadDataError(f"{path}: expected a JSON object")
  missing = [f for f in REQUIRED_FIELDS if f not in data]
  if missing:
    raise json_text.BadDataError(f"{path}: missing field(s) {missing}")
  instances = []
  for i, inst in enumerate(_list(data["Instances"], path, "Instances")):
    if not isinstance(inst, dict) or "input" not in inst or "output" not in inst:
      raise json_text.BadDataError(f"{path}: Instances[{i}] needs 'input' and 'output'")
    outputs = inst["output"] if isinstance(inst["output"], list) else [inst["output"]]
    instance_id = inst.get("id", f"{path.stem}-{i}")
    instances.append({"id": _text(str(instance_id) if isinstance(instance_id, int)
                                  else instance_id, path, f"Instances[{i}].id"),
                      "input": _text(inst["input"], path, f"Instances[{i}].input"),
                      "references": [_text(o, path, f"Instances[{i}].output") for o in outputs]})
  return NiTask(
      name=path.stem, path=str(path), definition=_definition(data["Definition"], path),
      positive_examples=_examples(data["Positive Examples"], path, "Positive Examples"),
      negative_examples=_examples(data.get("Negative Examples", []), path,
                                  "Negative Examples"),
      instances=tuple(instances), categories=tuple(
          _text(c, path, f"Categories[{i}]")
          for i, c in enumerate(_list(data.get("Categories", []), path, "Categories"))))


def encode(task: NiTask, instance_input: str, max_input_tokens: int,
           count_tokens: Callable[[str], int], num_positive: int = 2) -> str:
  """Definition + up to `num_positive` positive examples, each added only if it fits."""
  head = f"Definition: {task.definition}\n\n"
  tail = f"Now complete the following example -\nInput: {instance_input}\nOutput:"
  shots = []
  for i, ex in enumerate(task.positive_examples[:num_positive], 1):
    shot = f"Positive Example {i} -\nInput: {ex['input']}\nOutput: {ex['output']}\n\n"
    if count_tokens(head + "".join(shots) + shot + tail) > max_input_tokens:
      break
    shots.append(shot)
  return head + "".join(shots) + tail


def _dataset_fn(split, shuffle_files, seed=None, *, task: NiTask, name: str,
                max_input_tokens: int, num_positive: int):
  del shuffle_files, seed
  examples = []
  for inst in task.split(split):
    references = [r for r in inst["references"] if r.strip()]
    if not references:
      stats.count(name, stats.SKIP_EMPTY_TARGET)
      continue
    examples.append({"inputs": encode(task, inst["input"], max_input_tokens,
                                      vocab.count_tokens, num_positive),
                     "targets": references[0], "references": references})
  return tf.data.Dataset.from_tensor_slices({
      "inputs": tf.constant([e["inputs"] for e in examples], tf.string, [len(examples)]),
      "targets": tf.constant([e["targets"] for e in examples], tf.string, [len(examples)]),
      "choices": tf.ragged.constant([[] for _ in examples], tf.string, ragged_rank=1),
      "references": tf.ragged.constant([e["references"] for e in examples], tf.string,
                                       ragged_rank=1)})


def register_directory(directory: str | pathlib.Path, prefix: str = "niv2",
                       max_input_tokens: int = 1024, num_positive: int = 2,
                       cluster: str = "niv2") -> list[str]:
  """Registers one seqio task per `*.json` task file (files are parsed here, once)."""
  names = []
  files = sorted(epath.Path(directory).glob("*.json"))
  if not files:
    raise FileNotFoundError(f"no NIv2 task files (*.json) in {directory}")
  for path in files:
    task = load_task(path)
    name = f"{prefix}_{task.name}".lower().replace("-", "_")
    source = seqio.FunctionDataSource(
        lambda split, shuffle_files, seed=None, t=task, n=name: _dataset_fn(
            split, shuffle_files, seed, task=t, name=n, max_input_tokens=max_input_tokens,
            num_positive=num_positive),
        splits=SPLITS, num_input_examples={s: len(task.split(s)) for s in SPLITS})
    seqio.TaskRegistry.add(
        name, source=source, output_features=features.output_features(),
        preprocessors=features.preprocessors(name),
        postprocess_fn=metrics.postprocess_references,
        metric_fns=metrics.metric_fns_for("rouge"))
    catalog.add(catalog.Entry(name, cluster, templates=1, inverted_templates=0,
                              split_sizes=lambda t=task: {s: len(t.split(s)) for s in SPLITS}))
    names.append(name)
  return names
