"""What a parameter-efficient method is: an interceptor of the network's module calls that
adds its own parameters, and the rule for which parameters train.

A method never edits a network file. `intercept` is a `flax.linen.intercept_methods`
interceptor: it sees every module call (DenseGeneral, Attention, GatedMlp, RMSNorm, ...)
with the module's path, and may change inputs or outputs, creating its parameters as child
modules of the intercepted module (so they are initialised, scanned, rematerialised and
sharded with it, and carry logical axis names like every other parameter).
"""
import abc
import re

import flax.linen as nn


def module_path(module: nn.Module) -> str:
  """'decoder/layers/layers_0/self_attention/query': what target regexes match (fully)."""
  return "/".join(str(name) for name in module.path)


def matches_name(pattern: str, name: str) -> bool:
  return re.fullmatch(pattern, name) is not None


def matches(pattern: str, module: nn.Module) -> bool:
  return matches_name(pattern, module_path(module))


class PeftMethod(abc.ABC):
  """A method; subclasses are gin-configurable (`PEFT = @lora()` etc.)."""

  # Methods that add sequence positions (soft prompts) report how many: a decoder-only
  # cache gives them its first slots, and the data pipeline takes them from the inputs'
  # length (models.model_kinds).
  extra_positions = 0

  @abc.abstractmethod
  def intercept(self, next_fun, args, kwargs, context):
    """The interceptor: returns next_fun(*args, **kwargs), possibly transformed."""

  @abc.abstractmethod
  def describe_targets(self) -> str:
    """Where the method puts its parameters, for error messages."""

  def trains_base_param(self, name: str) -> bool:
    """Whether a parameter of the network itself (by its '/'-joined path) trains too;
    everything the method adds always does."""
    del name
    return False

  def initial_trainable(self, trainable: dict, frozen: dict) -> dict:
    """A fresh run's trainable parameters once the base is known (a method whose start
    depends on the base's values recomputes them from `frozen`)."""
    del frozen
    return trainable

  def merged(self, params: dict) -> dict:
    """The network's own parameter tree with the method folded in (for export)."""
    raise NotImplementedError(f"{self!r} cannot be folded into the base weights")
