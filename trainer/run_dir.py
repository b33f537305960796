"""MODEL_DIR and the files beside its checkpoints, local or remote (gs://...).

Every run path goes through etils.epath (the layer orbax uses), so a bucket URL reaches
orbax, TensorBoard and our own files unchanged; only a local path is expanded and made
absolute.
"""
import os

from etils import epath
import jax


def is_remote(path: str) -> bool:
  return "://" in str(path)


def resolve(path: str) -> str:
  """`~` expanded and made absolute when local; a URL such as gs://bucket/run as given."""
  path = os.fspath(path)
  if is_remote(path):
    return path
  return os.fspath(epath.Path(path).expanduser().absolute())


class ModelDirError(PermissionError):
  """MODEL_DIR unset, or not writable (a local permission, a full disk, an unreachable
  bucket)."""


def prepare_model_dir(model_dir: str) -> str:
  """Creates MODEL_DIR if needed and proves it writable before any work starts."""
  if not model_dir:
    raise ModelDirError("MODEL_DIR is not set: pass --gin.MODEL_DIR=\"'/path/to/run'\"")
  model_dir = resolve(model_dir)
  path = epath.Path(model_dir)
  try:
    path.mkdir(parents=True, exist_ok=True)
    probe = path / f".write_probe_{os.getpid()}"
    probe.write_text("ok")
    probe.unlink()
  # The local backend raises OSError, tf.io.gfile's (gs://) tf.errors.OpError.
  except Exception as e:  # pylint: disable=broad-except
    raise ModelDirError(f"MODEL_DIR {model_dir} cannot be written: {e}") from e
  return model_dir


def write_text(path: str, text: str):
  """Writes a whole file at a run path, creating its directory."""
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(text)


def write_config(model_dir: str, name: str, text: str):
  if jax.process_index() == 0:
    write_text(os.path.join(model_dir, name), text)
