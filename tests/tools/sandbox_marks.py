"""Sandbox tests skip on a developer machine without bubblewrap, never in CI (which installs it)."""
import os
import shutil

import pytest

needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None and not os.environ.get("CI"),
    reason="bubblewrap is not installed (apt-get install -y bubblewrap); CI always has it")
