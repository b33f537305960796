"""Parameter trees as flat {path tuple: leaf} maps: how a PEFT method's parameters are told
apart from the network's and put back together with them."""
from flax import traverse_util


def flat(tree) -> dict[tuple[str, ...], object]:
  return traverse_util.flatten_dict(tree) if tree else {}


def nested(flat_tree: dict) -> dict:
  return traverse_util.unflatten_dict(flat_tree) if flat_tree else {}


def join(frozen, trainable) -> dict:
  """One tree from two with disjoint leaves (e.g. the frozen base and the trained delta);
  free under jit: nothing is copied, the tree is only re-nested."""
  return nested({**flat(frozen), **flat(trainable)})


def path_name(path: tuple[str, ...]) -> str:
  return "/".join(path)


def owners_of(flat_tree: dict, suffix: tuple[str, ...]):
  """(path of the module holding it, leaf) for every leaf whose path ends in `suffix`."""
  for path, leaf in flat_tree.items():
    if path[-len(suffix):] == suffix:
      yield path[:-len(suffix)], leaf
