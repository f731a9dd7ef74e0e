# Copyright 2026 The shoal Authors.
"""README.md's "From Python" example, run as a program exactly as written,
under both start methods; shoal.__version__."""

import os
import re
import subprocess
import sys

import pytest


def readme_example():
    with open(os.path.join(os.environ["SHOAL_REPO"], "README.md")) as f:
        text = f.read()
    section = text.split("\n## From Python\n", 1)[1]
    m = re.search(r"```python\n(.*?)```", section, re.S)
    assert m, "no python block in README's From Python section"
    return m.group(1)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_readme_example_prints_its_total(tmp_path, method):
    src = readme_example()
    if method == "spawn":
        src = src.replace('if __name__ == "__main__":\n',
                          'if __name__ == "__main__":\n'
                          '    multiprocessing.set_start_method("spawn")\n')
    script = tmp_path / "example.py"
    script.write_text(src)
    r = subprocess.run([sys.executable, str(script)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "495000000.0\n"


def test_version_is_the_repository_version():
    import shoal
    with open(os.path.join(os.environ["SHOAL_REPO"], "version.bzl")) as f:
        want = re.search(r'^SHOAL_VERSION = "([0-9.]+)"$', f.read(), re.M).group(1)
    assert shoal.__version__ == want
