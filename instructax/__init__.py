"""The installed home of the gin configs: a wheel holds the repository's gin/ as
`instructax/gin/` (package data, see setup.cfg), so `gin/runs/sft_tiny.gin` and the configs'
own `include 'gin/...'` lines resolve the same from a checkout and from an install.

Only this name is installed for them: a top-level `gin/` folder would shadow gin-config.
"""
import pathlib

_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent


def gin_search_dir() -> str:
  """The directory holding `gin/`: this package when installed from a wheel, the
  repository root in a checkout (or an editable install)."""
  installed = _PACKAGE_DIR / "gin"
  return str(_PACKAGE_DIR if installed.is_dir() else _PACKAGE_DIR.parent)
