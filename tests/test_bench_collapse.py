"""Smoke test of benchmarks/bench_collapse.py (tiny budget, real code paths)."""

import json

from test_benchmark_scripts import assert_names_cpu, needs_mnist, run


@needs_mnist
def test_collapse_sweep_smoke(tmp_path):
    output = tmp_path / "collapse"
    tiny = ["--seeds", "0", "--rows", "300", "--datasets", "mnist", "--batch-sizes", "128", "--methods", "ae"]
    run("bench_collapse.py", "--fix", "off", *tiny, "--outputs", "tanh", "sigmoid", "--output", str(output))
    results = json.loads(output.with_suffix(".json").read_text())
    assert results["budget"]["output_init"] == "torch" and results["complete"]
    cells = ["mnist/tanh/batch128/ae", "mnist/sigmoid/batch128/ae"]
    assert list(results["runs"]) == cells and set(results["collapsed"]) == set(cells)
    for name in cells:
        (fit,) = results["runs"][name]
        assert fit["seed"] == 0 and fit["std_ratio"] >= 0 and fit["mse"] > 0
        assert fit["collapsed"] == (fit["warned"] or fit["std_ratio"] < 1e-3)
        assert results["collapsed"][name] == int(fit["collapsed"])
    assert_names_cpu(results["machine"])
    report = output.with_suffix(".md").read_text()
    assert "| mnist/sigmoid/batch128/ae | " in report and results["package"] in report

    # Run again with one more seed: it resumes, keeping the fits that ran and adding the new seed's.
    run(
        "bench_collapse.py",
        "--fix",
        "off",
        *tiny,
        "--seeds",
        "0",
        "1",
        "--outputs",
        "tanh",
        "sigmoid",
        "--output",
        str(output),
    )
    resumed = json.loads(output.with_suffix(".json").read_text())
    assert resumed["complete"] and len(resumed["commands"]) == 2
    for name in cells:
        assert resumed["runs"][name][0] == results["runs"][name][0]
        assert [fit["seed"] for fit in resumed["runs"][name]] == [0, 1]
