import subprocess
import sys

import loopml


def test_version_exposed():
    assert loopml.__version__
    assert "__version__" in loopml.__all__


def test_cli_version():
    out = subprocess.run(
        [sys.executable, "-m", "loopml", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"loopml {loopml.__version__}"
