"""gin/mixtures/*.gin name registered mixtures at lengths the data fits, each file on its own.

The slow test parses each file in a fresh interpreter: in this one `import tasks` below has
already registered the mixtures, which would hide a gin file that forgets to import them.
"""
import json
import pathlib
import subprocess
import sys

import gin
import pytest
import seqio

import tasks  # noqa: F401  (registers the mixtures)

REPO_DIR = pathlib.Path(__file__).resolve().parents[2]
GIN_DIR = REPO_DIR / "gin" / "mixtures"


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


_PARSE_ALONE = """
import json, sys
import gin, seqio
gin.parse_config_file(sys.argv[1])
name = gin.query_parameter("MIXTURE_OR_TASK_NAME/macro.value")
lengths = gin.query_parameter("TASK_FEATURE_LENGTHS/macro.value")
provider = seqio.get_mixture_or_task(name)
print(json.dumps({"is_mixture": isinstance(provider, seqio.Mixture), "lengths": lengths}))
"""


@pytest.mark.slow  # a fresh interpreter imports TensorFlow and registers the suite
@pytest.mark.parametrize("path", sorted(GIN_DIR.glob("*.gin")), ids=lambda p: p.name)
def test_gin_mixture_file_works_on_its_own(path):
  done = subprocess.run([sys.executable, "-c", _PARSE_ALONE, str(path)], cwd=REPO_DIR,
                        capture_output=True, text=True, check=False, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  parsed = json.loads(done.stdout.strip().splitlines()[-1])
  assert parsed["is_mixture"]
  assert set(parsed["lengths"]) == {"inputs", "targets"}
