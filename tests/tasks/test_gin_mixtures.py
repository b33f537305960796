"""gin/mixtures/*.gin name registered mixtures at lengths the data fits."""
import pathlib

import gin
import pytest
import seqio

import tasks  # noqa: F401  (registers the mixtures)

GIN_DIR = pathlib.Path(__file__).resolve().parents[2] / "gin" / "mixtures"


@pytest.mark.parametrize("path", sorted(GIN_DIR.glob("*.gin")), ids=lambda p: p.name)
def test_gin_mixture_files(path):
  gin.clear_config()
  try:
    gin.parse_config_file(str(path))
    name = gin.query_parameter("MIXTURE_OR_TASK_NAME/macro.value")
    lengths = gin.query_parameter("TASK_FEATURE_LENGTHS/macro.value")
  finally:
    gin.clear_config()
  assert isinstance(seqio.get_mixture_or_task(name), seqio.Mixture)
  assert set(lengths) == {"inputs", "targets"}
