"""A bubblewrap sandbox for model-written Python programs (see `command` for what it holds)."""
from tools.sandbox.limits import Limits
from tools.sandbox.result import SandboxResult
from tools.sandbox.run import Sandbox

__all__ = ["Limits", "Sandbox", "SandboxResult"]
