# Copyright 2026 The shoal Authors.
"""README.md's "From Python" example, run as a program exactly as written,
under both start methods; shoal.__version__."""

import os
import re

import pytest

from conftest import readme_python_block, run_script


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_readme_example_prints_its_total(tmp_path, method):
    r = run_script(readme_python_block("\n## From Python\n"), tmp_path,
                   method)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "495000000.0\n"


def test_version_is_the_repository_version():
    import shoal
    with open(os.path.join(os.environ["SHOAL_REPO"], "version.bzl")) as f:
        want = re.search(r'^SHOAL_VERSION = "([0-9.]+)"$', f.read(), re.M).group(1)
    assert shoal.__version__ == want
