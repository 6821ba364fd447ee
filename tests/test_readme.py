"""The README's quick start runs as written and prints what it says."""

import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_quick_start_runs(capsys):
    text = README.read_text()
    quick_start = text[text.index("## Quick start") :]
    code = re.search(r"```python\n(.*?)```", quick_start, re.S)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the quick start runs clean
        exec(compile(code, str(README), "exec"), {})
    printed = capsys.readouterr().out
    accuracy = float(re.search(r"accuracy: ([0-9.]+)", printed)[1])
    assert accuracy > 0.9
    # The search's choice lies inside its grid, not on its corner.
    alphas = [float(alpha) for alpha in re.findall(r"^alpha (\S+):", printed, re.M)]
    best = float(re.search(r"best: \{'lorae__alpha': ([^}]+)\}", printed)[1])
    assert len(alphas) == 6 and min(alphas) < best < max(alphas)
    low, high = map(float, re.search(r"samples in (\S+) (\S+)", printed).groups())
    assert 0.0 <= low <= high <= 1.0  # the sigmoid keeps samples in the data's range
