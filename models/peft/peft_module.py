"""A network with a PEFT method applied: `init` and `apply` run the network under the
method's interceptor; everything else is the network's."""
import flax.linen as nn
import jax

from models.peft import param_trees
from models.peft.method import PeftMethod


class PeftModule:
  """Stands in for the network (`init`, `apply`, `decode`, `encode`, `config` ...).

  The parameter tree is the network's, plus the method's parameters as children of the
  modules they modify; `split` parts it into the frozen and the trainable leaves.
  """

  def __init__(self, network: nn.Module, method: PeftMethod, init_batch):
    self.network = network
    self.method = method
    base = jax.eval_shape(lambda: network.init(jax.random.key(0), init_batch)["params"])
    self.base_paths = frozenset(param_trees.flat(base))
    # Built now, so a target that matches nothing or a bad size fails when the model is
    # configured, before any run directory is touched.
    full = jax.eval_shape(lambda: self.init(jax.random.key(0), init_batch)["params"])
    added = set(param_trees.flat(full)) - self.base_paths
    if not added:
      modules = sorted({param_trees.path_name(p[:-1]) for p in self.base_paths})
      raise ValueError(
          f"{method!r} adds no parameter to this model: {method.describe_targets()} match "
          f"no module. The model's modules with parameters are: {', '.join(modules)}")
    self.added_paths = frozenset(added)

  def __repr__(self):
    return f"PeftModule({type(self.network).__name__}, {self.method!r})"

  def __getattr__(self, name):
    if name.startswith("__") or name == "network":  # copy/pickle probes; unset instance
      raise AttributeError(name)
    return getattr(self.network, name)

  @property
  def extra_positions(self) -> int:
    return self.method.extra_positions

  def clone(self, **overrides):
    """The network cloned (e.g. unscanned for the decode loops) with the method still on."""
    twin = object.__new__(PeftModule)
    twin.__dict__.update(self.__dict__, network=self.network.clone(**overrides))
    return twin

  def init(self, *args, **kwargs):
    with nn.intercept_methods(self.method.intercept):
      return self.network.init(*args, **kwargs)

  def apply(self, *args, **kwargs):
    with nn.intercept_methods(self.method.intercept):
      return self.network.apply(*args, **kwargs)

  def is_trainable(self, path: tuple[str, ...]) -> bool:
    return (path not in self.base_paths
            or self.method.trains_base_param(param_trees.path_name(path)))

  def split(self, params) -> tuple[dict, dict]:
    """(frozen, trainable): the network's untouched leaves, and the method's leaves with
    any network leaf the method trains."""
    frozen, trainable = {}, {}
    for path, leaf in param_trees.flat(params).items():
      (trainable if self.is_trainable(path) else frozen)[path] = leaf
    return param_trees.nested(frozen), param_trees.nested(trainable)

  def base_part(self, params) -> dict:
    """The leaves of the network itself (what a base checkpoint holds)."""
    return param_trees.nested({p: v for p, v in param_trees.flat(params).items()
                               if p in self.base_paths})

  def merged(self, params) -> dict:
    """The network's tree with the method folded in: loads anywhere the base does."""
    return self.method.merged(params)
