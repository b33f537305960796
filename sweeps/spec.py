"""The sweep file: YAML whose leaves are gin bindings.

  description: what the sweep asks
  gin_files: [gin/runs/sft_tiny.gin]        # train.py's files, for every arm
  bindings: {TRAIN_STEPS: 500}              # train.py's bindings, for every arm
  sweep:                                    # an axis, or product/zip of nodes
    product:
      - {axis: trained_on, binding: MIXTURE_OR_TASK_NAME,
         values: [instruct_suite_without_nli, instruct_suite_noinstr_without_nli],
         labels: [instructions, dataset_names]}
      - zip:
          - {axis: lr, binding: constant_schedule.learning_rate, values: [1.0e-3, 3.0e-3]}
          - {axis: batch, binding: BATCH_SIZE, values: [32, 16]}
  arms:                                     # extra arms, named by hand (their bindings
                                            # override the file's; their gin_files come
                                            # after the file's, in train and eval alike)
    - {name: untrained, train: false, eval_bindings: {evaluate.untrained: true}}
    - {name: lora, gin_files: [gin/peft/lora.gin]}
  eval:                                     # optional: eval.py after each arm's training
    gin_files: [gin/runs/eval_heldout.gin]
    bindings: {Evaluation.name: heldout_nli}

Values: YAML numbers (1e-3 included), booleans, null, lists and mappings become the Python literals gin
reads; YAML strings become gin strings (`nli` -> `'nli'`); `!gin '@adafactor()'` passes gin
text through as written (references, macros). An axis binds train.py's config unless it
says `stage: eval` or `stage: both`. MODEL_DIR is the sweep's to set.
"""
import dataclasses
import itertools
import os
import re
from typing import Any

import yaml

PRESETS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "presets")
STAGES = ("train", "eval", "both")
_NODE_KINDS = ("product", "zip", "binding")
# Characters kept in an arm's directory name; anything else becomes '_'.
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._=,+-]")
_MAX_NAME = 200


class SweepError(ValueError):
  """The sweep file cannot be run as written; the message names the place."""


class GinText(str):
  """A value written `!gin ...`: gin syntax, passed through unchanged."""


class _Loader(yaml.SafeLoader):
  pass


_Loader.add_constructor("!gin", lambda loader, node: GinText(loader.construct_scalar(node)))
# YAML 1.1 reads 1e-3 (no dot) as a string; a learning rate should not become one.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?([0-9][0-9_]*(\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def gin_value(value: Any, where: str) -> str:
  if isinstance(value, GinText):
    return str(value)
  if isinstance(value, (str, bool, int, float, type(None))):
    return repr(value)
  if isinstance(value, (list, tuple)):
    return "[" + ", ".join(gin_value(v, where) for v in value) + "]"
  if isinstance(value, dict):
    return "{" + ", ".join(f"{gin_value(k, where)}: {gin_value(v, where)}"
                           for k, v in value.items()) + "}"
  raise SweepError(f"{where}: cannot write {value!r} ({type(value).__name__}) as a gin value")


def _label(value: Any) -> str:
  return value if isinstance(value, str) else str(value)


@dataclasses.dataclass(frozen=True)
class Arm:
  """One run: `name` is its directory under the sweep's; `labels` its place on the axes."""
  name: str
  labels: tuple[tuple[str, str], ...]
  train_bindings: tuple[tuple[str, str], ...]  # (gin name, gin value text)
  eval_bindings: tuple[tuple[str, str], ...]
  train: bool = True
  gin_files: tuple[str, ...] = ()  # after the sweep's files, for train.py and eval.py


@dataclasses.dataclass(frozen=True)
class Stage:
  gin_files: tuple[str, ...]
  bindings: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class Sweep:
  description: str
  train: Stage
  eval: Stage | None
  arms: tuple[Arm, ...]
  axes: tuple[str, ...]  # in the order the file names them


@dataclasses.dataclass(frozen=True)
class _Setting:
  axis: str
  label: str
  binding: str
  value: str
  stage: str


def _mapping(node: Any, where: str, allowed: tuple[str, ...], required=()) -> dict:
  if not isinstance(node, dict):
    raise SweepError(f"{where}: expected a mapping, got {node!r}")
  unknown = sorted(set(node) - set(allowed))
  if unknown:
    raise SweepError(f"{where}: unknown key(s) {unknown}; allowed: {list(allowed)}")
  missing = [k for k in required if k not in node]
  if missing:
    raise SweepError(f"{where}: missing {missing}")
  return node


def _bindings(node: Any, where: str) -> tuple[tuple[str, str], ...]:
  node = _mapping({} if node is None else node, where,
                  tuple(node) if isinstance(node, dict) else ())
  out = []
  for name, value in node.items():
    if not isinstance(name, str) or not name:
      raise SweepError(f"{where}: binding names are strings, got {name!r}")
    if name == "MODEL_DIR":
      raise SweepError(f"{where}: MODEL_DIR is set by the sweep (one directory per arm)")
    out.append((name, gin_value(value, f"{where}.{name}")))
  return tuple(out)


def _expand(node: Any, where: str) -> tuple[list[list[_Setting]], list[str]]:
  """Points of the node (each a list of settings) and the axis names it introduces."""
  kinds = [k for k in _NODE_KINDS if isinstance(node, dict) and k in node]
  if len(kinds) != 1:
    raise SweepError(f"{where}: a sweep node has exactly one of 'binding' (an axis), "
                     f"'product' or 'zip'; got {node!r}")
  if kinds[0] == "binding":
    return _axis(node, where)
  children = node[kinds[0]]
  _mapping(node, where, (kinds[0],))
  if not isinstance(children, list) or not children:
    raise SweepError(f"{where}.{kinds[0]}: expected a non-empty list of sweep nodes")
  expanded = [_expand(child, f"{where}.{kinds[0]}[{i}]") for i, child in enumerate(children)]
  axes = [a for _, child_axes in expanded for a in child_axes]
  if kinds[0] == "zip":
    lengths = {len(points) for points, _ in expanded}
    if len(lengths) != 1:
      raise SweepError(f"{where}.zip: the zipped nodes have different lengths "
                       f"{[len(p) for p, _ in expanded]} (axes {axes})")
    combos = zip(*(points for points, _ in expanded))
  else:
    combos = itertools.product(*(points for points, _ in expanded))
  return [[s for part in combo for s in part] for combo in combos], axes


def _axis(node: dict, where: str) -> tuple[list[list[_Setting]], list[str]]:
  _mapping(node, where, ("axis", "binding", "values", "labels", "stage"),
           required=("binding", "values"))
  binding = node["binding"]
  if not isinstance(binding, str) or binding == "MODEL_DIR":
    raise SweepError(f"{where}: 'binding' must name a gin binding other than MODEL_DIR")
  axis = str(node.get("axis", binding.rsplit(".", 1)[-1]))
  values = node["values"]
  if not isinstance(values, list) or not values:
    raise SweepError(f"{where} (axis {axis}): 'values' must be a non-empty list")
  labels = node.get("labels", [_label(v) for v in values])
  if not isinstance(labels, list) or len(labels) != len(values):
    raise SweepError(f"{where} (axis {axis}): {len(values)} values but labels {labels!r}")
  labels = [_label(l) for l in labels]
  if len(set(labels)) != len(labels):
    raise SweepError(f"{where} (axis {axis}): labels repeat: {labels}")
  stage = node.get("stage", "train")
  if stage not in STAGES:
    raise SweepError(f"{where} (axis {axis}): stage {stage!r}; one of {list(STAGES)}")
  return [[_Setting(axis, label, binding, gin_value(value, f"{where}.values"), stage)]
          for value, label in zip(values, labels)], [axis]


def arm_directory_name(labels: tuple[tuple[str, str], ...]) -> str:
  return ",".join(f"{_UNSAFE_IN_NAME.sub('_', a)}={_UNSAFE_IN_NAME.sub('_', l)}"
                  for a, l in labels)


def _arm_from_point(point: list[_Setting], base_train: tuple, base_eval: tuple,
                    where: str) -> Arm:
  labels = tuple((s.axis, s.label) for s in point)
  train = dict(base_train)
  evaluation = dict(base_eval)
  for stage, bindings in (("train", train), ("eval", evaluation)):
    set_here = {}
    for s in point:
      if s.stage not in (stage, "both"):
        continue
      if s.binding in set_here:
        raise SweepError(f"{where}: axes {set_here[s.binding]} and {s.axis} both bind "
                         f"{s.binding}")
      if s.binding in bindings:
        raise SweepError(f"{where}: axis {s.axis} binds {s.binding}, which the file's "
                         f"fixed {stage} bindings set too; set it in one place")
      set_here[s.binding] = s.axis
      bindings[s.binding] = s.value
  return Arm(arm_directory_name(labels), labels, tuple(train.items()),
             tuple(evaluation.items()))


def _explicit_arm(node: Any, where: str, base_train: tuple, base_eval: tuple) -> Arm:
  _mapping(node, where, ("name", "labels", "gin_files", "bindings", "eval_bindings", "train"),
           required=("name",))
  name = str(node["name"])
  if _UNSAFE_IN_NAME.search(name):
    raise SweepError(f"{where}: arm name {name!r} is a directory name; use only letters, "
                     f"digits and . _ = , + -")
  labels = node.get("labels", {})
  labels = _mapping(labels, f"{where}.labels", tuple(labels) if isinstance(labels, dict) else ())
  train_overrides = dict(_bindings(node.get("bindings"), f"{where}.bindings"))
  eval_overrides = dict(_bindings(node.get("eval_bindings"), f"{where}.eval_bindings"))
  trains = node.get("train", True)
  if not isinstance(trains, bool):
    raise SweepError(f"{where}.train: true or false, got {trains!r}")
  files = node.get("gin_files", [])
  if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
    raise SweepError(f"{where}.gin_files: a list of gin files, got {files!r}")
  return Arm(name, tuple((str(a), _label(l)) for a, l in labels.items()),
             tuple({**dict(base_train), **train_overrides}.items()),
             tuple({**dict(base_eval), **eval_overrides}.items()), trains, tuple(files))


def _stage(node: dict, where: str) -> Stage:
  files = node.get("gin_files")
  if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
    raise SweepError(f"{where}.gin_files: a non-empty list of gin files")
  return Stage(tuple(files), _bindings(node.get("bindings"), f"{where}.bindings"))


def parse(text: str, source: str = "<sweep>") -> Sweep:
  try:
    node = yaml.load(text, Loader=_Loader)  # SafeLoader plus the !gin tag
  except yaml.YAMLError as e:
    raise SweepError(f"{source}: not valid YAML: {e}") from e
  _mapping(node, source, ("description", "gin_files", "bindings", "sweep", "arms", "eval"),
           required=("gin_files",))
  train = _stage(node, source)
  evaluation = None
  if "eval" in node:
    _mapping(node["eval"], f"{source}.eval", ("gin_files", "bindings"), ("gin_files",))
    evaluation = _stage(node["eval"], f"{source}.eval")
  base_eval = evaluation.bindings if evaluation else ()
  arms, axes = [], []
  if "sweep" in node:
    points, axes = _expand(node["sweep"], f"{source}.sweep")
    if len(set(axes)) != len(axes):
      raise SweepError(f"{source}.sweep: axis names repeat: {axes} (give each an 'axis')")
    arms = [_arm_from_point(p, train.bindings, base_eval, f"{source}.sweep") for p in points]
  explicit = node.get("arms", [])
  if not isinstance(explicit, list):
    raise SweepError(f"{source}.arms: expected a list of arms")
  arms += [_explicit_arm(a, f"{source}.arms[{i}]", train.bindings, base_eval)
           for i, a in enumerate(explicit)]
  if not arms:
    raise SweepError(f"{source}: no arms (give 'sweep' or 'arms')")
  _check_arms(arms, evaluation, source)
  return Sweep(str(node.get("description", "")).strip(), train, evaluation, tuple(arms),
               tuple(axes))


def _check_arms(arms: list[Arm], evaluation: Stage | None, source: str) -> None:
  by_name: dict[str, Arm] = {}
  for arm in arms:
    if len(arm.name) > _MAX_NAME:
      raise SweepError(f"{source}: arm directory name {arm.name[:60]!r}... is "
                       f"{len(arm.name)} characters; give the axes short 'labels'")
    if arm.name in by_name:
      raise SweepError(f"{source}: two arms would share the MODEL_DIR {arm.name!r}: "
                       f"{dict(by_name[arm.name].labels)} and {dict(arm.labels)}")
    by_name[arm.name] = arm
    if not arm.train and evaluation is None:
      raise SweepError(f"{source}: arm {arm.name!r} does not train and the file has no "
                       f"'eval', so it would run nothing")
  if evaluation is None and any(arm.eval_bindings for arm in arms):
    raise SweepError(f"{source}: eval bindings given but no 'eval' section")


def resolve(path_or_preset: str) -> str:
  """A file path, or the name of a preset in sweeps/presets/ (`flan_clusters`)."""
  if os.path.exists(path_or_preset):
    return path_or_preset
  preset = os.path.join(PRESETS_DIR, f"{path_or_preset}.yaml")
  if os.path.exists(preset):
    return preset
  names = sorted(f[:-5] for f in os.listdir(PRESETS_DIR) if f.endswith(".yaml"))
  raise SweepError(f"no sweep file {path_or_preset!r} and no such preset; presets: {names}")


def load(path_or_preset: str) -> Sweep:
  path = resolve(path_or_preset)
  try:
    with open(path, encoding="utf-8") as f:
      text = f.read()
  except OSError as e:
    raise SweepError(f"cannot read sweep file {path}: {e.strerror}") from e
  return parse(text, path)
