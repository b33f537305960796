"""MODEL_DIR and the files beside its checkpoints, local or remote (gs://...).

Every run path goes through etils.epath (the layer orbax uses), so a bucket URL reaches
orbax, TensorBoard and our own files unchanged; only a local path is expanded and made
absolute. Our own files are written whole or not at all (`write_bytes`).
"""
import os
import tempfile

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


def write_bytes(path: str, data: bytes):
  """Writes a whole file at a run path, creating its directory, so that a crash leaves
  the old file or the new one, never a prefix: results and completion markers tell a
  rerun that a step is finished.

  A local path gets a temporary file in the same directory, flushed and fsynced, then
  os.replace'd over the target, and the directory fsynced so the rename lasts. A remote
  path (gs://...) is written directly: an object store publishes an object only once its
  upload completes, and its rename is a copy that would not be atomic.
  """
  path = epath.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  if is_remote(path):
    path.write_bytes(data)
    return
  descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                           suffix=".tmp")
  try:
    with os.fdopen(descriptor, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.replace(temporary, path)
  except BaseException:
    if os.path.exists(temporary):
      os.unlink(temporary)
    raise
  directory = os.open(path.parent, os.O_RDONLY)
  try:
    os.fsync(directory)
  finally:
    os.close(directory)


def write_text(path: str, text: str):
  write_bytes(path, text.encode("utf-8"))


def write_config(model_dir: str, name: str, text: str):
  if jax.process_index() == 0:
    write_text(os.path.join(model_dir, name), text)
