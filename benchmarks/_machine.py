"""What the benchmark results say about the machine they ran on.

The project's machines have changed between sessions (an AVX-512 x86-64, then an AVX2
AMD EPYC), and the speed figures depend on which: every results file names the CPU and
the instruction set torch's CPU kernels use on it.
"""

import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

import sklearn_lorae


def _cpuinfo_field(name):
    """The value of the first ``name`` line of /proc/cpuinfo, or None where there is none."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(name):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, or the architecture where there is none."""
    return _cpuinfo_field("model name") or platform.machine()


def cpu_flags(*parts):
    """The CPU's flags (/proc/cpuinfo) that contain one of ``parts``, sorted."""
    return sorted(flag for flag in (_cpuinfo_field("flags") or "").split() if any(part in flag for part in parts))


def cpu_description():
    """E.g. ``"AMD EPYC (x86_64, torch CPU capability AVX2)"``."""
    return f"{cpu_model()} ({platform.machine()}, torch CPU capability {torch.backends.cpu.get_cpu_capability()})"


def package_description():
    """Which sklearn_lorae ran: ``python benchmarks/...`` imports the installed copy, not the checkout."""
    where = Path(sklearn_lorae.__file__).resolve().parent

    def git(*command):
        done = subprocess.run(["git", "-C", str(where), *command], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    # An installed copy may sit inside some other repository (pyenv's, for one).
    in_checkout = git("rev-parse", "--show-toplevel") == str(where.parent)
    source = f"commit {git('describe', '--always', '--dirty')}" if in_checkout else "installed copy, not a checkout"
    return f"sklearn_lorae {sklearn_lorae.__version__} from {where} ({source})"


def run_description():
    """The opening entries of a results file: the command that ran, the CPU, the package."""
    return {"command": "python " + " ".join(sys.argv), "machine": cpu_description(), "package": package_description()}


def resumable_results(output, budget, table):
    """The results of ``<output>.json`` when an earlier run of the same ``budget`` left
    them (an interrupted run goes on and keeps what it measured), else new ones with an
    empty ``table``; with this run's command added and its machine and package (a run
    continued on another machine or at another commit keeps the earlier ones in
    ``machines`` and ``packages``)."""
    path = Path(output).with_suffix(".json")
    results = json.loads(path.read_text()) if path.exists() else {"budget": budget, table: {}}
    if results["budget"] != budget:
        raise SystemExit(f"{path} holds another budget: use another --output.")
    results.setdefault("commands", []).append("python " + " ".join(sys.argv))
    # Results written before ``machines`` and ``packages`` existed name theirs in
    # ``machine`` and ``package`` only.
    results.setdefault("machines", [results["machine"]] if "machine" in results else [])
    results.setdefault("packages", [results["package"]] if "package" in results else [])
    results["machine"] = f"{cpu_description()}, torch {torch.__version__}, {torch.get_num_threads()} threads"
    if results["machine"] not in results["machines"]:
        results["machines"].append(results["machine"])
    results["package"] = package_description()
    if results["package"] not in results["packages"]:
        results["packages"].append(results["package"])
    return results


def write_results(results, output, markdown):
    """``<output>.json`` and ``<output>.md`` (``markdown(results)``)."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    output.with_suffix(".md").write_text(markdown(results))
