"""Smoke test of benchmarks/bench_collapse.py (tiny budget, real code paths)."""

import json

from test_benchmark_scripts import assert_names_cpu, import_benchmark, needs_mnist, run


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
    # Both runs at one commit: it is named once.
    assert resumed["packages"] == [results["package"]]
    for name in cells:
        assert resumed["runs"][name][0] == results["runs"][name][0]
        assert [fit["seed"] for fit in resumed["runs"][name]] == [0, 1]


def test_resumed_results_keep_the_package_and_machine_of_files_written_before_their_lists_existed(tmp_path):
    machine = import_benchmark("_machine")
    package_description, resumable_results = machine.package_description, machine.resumable_results
    earlier = {
        "budget": {"rows": 1},
        "runs": {},
        "package": "sklearn_lorae 0.0 (commit 0000000)",
        "machine": "an older CPU, torch 0.0, 1 threads",
    }
    (tmp_path / "r.json").write_text(json.dumps(earlier))
    results = resumable_results(tmp_path / "r", {"rows": 1}, "runs")
    assert results["packages"] == ["sklearn_lorae 0.0 (commit 0000000)", package_description()]
    assert results["package"] == package_description()
    assert results["machines"] == ["an older CPU, torch 0.0, 1 threads", results["machine"]]
    assert results["machine"] != "an older CPU, torch 0.0, 1 threads"


@needs_mnist
def test_diagnose_collapse_smoke(tmp_path):
    output = tmp_path / "diagnosis"
    run("diagnose_collapse.py", "--seeds", "1", "--rows", "256", "--probe-rows", "16", "--output", str(output))
    results = json.loads(output.with_suffix(".json").read_text())
    assert [(fit["output_init"], fit["seed"]) for fit in results["fits"]] == [("torch", 1), ("data_mean", 1)]
    for fit in results["fits"]:
        # Before training, then after each of the 2 steps of 128 rows.
        assert len(fit["steps"]) == 3
        for step in fit["steps"]:
            assert 0 <= step["saturated"] <= 1 and 0 <= step["dead_first_relu"] <= 1 and step["std_ratio"] >= 0
    # The fix: the untrained net outputs about the data's mean.
    assert abs(results["fits"][1]["steps"][0]["mean_output"] - results["data_mean"]) < 0.1
    report = output.with_suffix(".md").read_text()
    # Two steps are too few to tell a live net from a dead one: only the rows are checked.
    assert "| torch | 1 | " in report and "| data_mean | 1 | " in report and "- data_mean: " in report
    assert_names_cpu(results["machine"])
