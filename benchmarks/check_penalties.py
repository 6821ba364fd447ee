"""Cross-check of the WAE and RAE penalties and of their weights converted to ``alpha``.

The same tensors go into three implementations of each loss:

(a) this package: ``F.mse_loss`` (the squared error averaged over features and samples,
    as the estimators' loss) plus the bottleneck's ``penalty``, at the converted ``alpha``;
(b) pythae 0.1.2 (``WAE_MMD``, ``RAE_L2``; ``pip install pythae==0.1.2``, used here
    only, never by the package), whose reconstruction term is the squared error summed
    over features: its loss divided by ``n_features`` is on the package's scale;
(c) the official formulas, written here in numpy: tolstikhin/wae (``wae.py``:
    reconstruction ``0.05 * sum over pixels`` of the squared error, MMD with the IMQ
    kernel, ``C = 2 * zdim`` times the scales .1 to 10, ``lambda`` 10 on MNIST) and
    ParthaEth/Regularized_autoencoders-RAE- (``models/rae/loss_functions.py``: the
    per-pixel mean squared error plus ``embedding_weight`` 1e-4 times the mean over the
    latent dimensions of z**2; ``rae_mnist.py``: an L2 ``kernel_regularizer`` of 1e-7 on
    the transposed convolutions only).

The conversions checked (``d`` features, ``d_z`` latent dimensions, ``c = 4`` on data in
[-1, 1] when the paper's weight is for [0, 1] images, else 1):

- WAE: ``alpha = c * lambda / (0.05 * d)``; Tolstikhin et al. on MNIST: 10 / 39.2;
- RAE: ``alpha = c * 2 * beta / d_z`` for the code term (the package's
  ``||z||**2 / 2`` against the paper's mean of z**2); Ghosh et al. on MNIST: 2e-4 / 16.

A loss equal up to a constant factor trains the same way under Adam (which is invariant
to the loss's scale up to its epsilon), so "same loss out" is checked after dividing the
official loss by that factor (0.05 * d for the WAE, c for [-1, 1] data).

Example (the committed result)::

    python benchmarks/check_penalties.py --output benchmarks/results/penalty_check
"""

import argparse
import json
import sys
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import run_description  # noqa: E402

from sklearn_lorae._bottlenecks import RegularizedBottleneck, WassersteinBottleneck  # noqa: E402
from sklearn_lorae._modules import ConvDecoder  # noqa: E402

N_FEATURES = 784  # MNIST, 28 x 28
WAE_LAMBDA, WAE_RECONSTRUCTION_SCALE, WAE_LATENT = 10.0, 0.05, 8
RAE_BETA, RAE_DECODER_L2, RAE_LATENT = 1e-4, 1e-7, 16
SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # tolstikhin/wae's mmd_penalty
# The weights of the 50-epoch runs in doc/reproduction.rst, on data in [-1, 1].
USED_IN_50_EPOCH_RUNS = {"wae": 10 / 784, "rae": 1e-3}
RANGE_FACTOR = {"[0, 1]": 1.0, "[-1, 1]": 4.0}  # the squared error on [-1, 1] is 4 times that on [0, 1]


def to_range(t, data_range):
    """Images in [0, 1] mapped to ``data_range``."""
    return 2.0 * t - 1.0 if data_range == "[-1, 1]" else t


def wae_alpha(lam=WAE_LAMBDA, reconstruction_scale=WAE_RECONSTRUCTION_SCALE, n_features=N_FEATURES, factor=1.0):
    """The WAE's lambda on the package's scale: the official loss divided by ``0.05 * d``."""
    return factor * lam / (reconstruction_scale * n_features)


def rae_alpha(beta=RAE_BETA, latent_dim=RAE_LATENT, factor=1.0):
    """The RAE's beta (on the mean over latent dims of z**2) as the weight of ``||z||**2 / 2``."""
    return factor * 2.0 * beta / latent_dim


# ------------------------------------------------------------ (c) official formulas
def official_imq_mmd(qz, pz, zdim):
    """tolstikhin/wae ``mmd_penalty`` (IMQ, normal prior of scale 1), in numpy."""
    n = len(qz)
    norms_q, norms_p = (qz**2).sum(1, keepdims=True), (pz**2).sum(1, keepdims=True)
    dist_q = norms_q + norms_q.T - 2.0 * qz @ qz.T
    dist_p = norms_p + norms_p.T - 2.0 * pz @ pz.T
    dist_qp = norms_q + norms_p.T - 2.0 * qz @ pz.T
    off_diagonal = 1.0 - np.eye(n)
    stat = 0.0
    for scale in SCALES:
        c = 2.0 * zdim * scale
        within = ((c / (c + dist_q) + c / (c + dist_p)) * off_diagonal).sum() / (n * n - n)
        stat += within - (c / (c + dist_qp)).sum() * 2.0 / (n * n)
    return stat


def official_wae_loss(x, x_hat, qz, pz):
    """tolstikhin/wae ``wae_objective`` with ``cost='l2sq'``: 0.05 * per-image sum + lambda * MMD."""
    reconstruction = WAE_RECONSTRUCTION_SCALE * ((x - x_hat) ** 2).reshape(len(x), -1).sum(1).mean()
    return reconstruction + WAE_LAMBDA * official_imq_mmd(qz, pz, qz.shape[1])


def official_rae_loss(x, x_hat, z, transposed_kernels=()):
    """ParthaEth RAE-L2 total loss: Keras averages ``per_pix_recon_loss`` (squared error
    summed over channels, averaged over pixels) plus ``beta * mean_j z_j**2`` over the
    batch, and adds the kernel regularizers' ``1e-7 * sum(W**2)``."""
    reconstruction = ((x - x_hat) ** 2).sum(1).mean()  # channels first here: axis 1
    codes = RAE_BETA * (z**2).mean(1).mean()
    return reconstruction + codes + RAE_DECODER_L2 * sum((w**2).sum() for w in transposed_kernels)


# -------------------------------------------------------------------- (a) package
def package_loss(x, x_hat, bottleneck, z, decoder):
    penalty = bottleneck.penalty(z, z, decoder)
    return F.mse_loss(x_hat, x) + penalty


def package_wae(alpha, seed):
    bottleneck = WassersteinBottleneck(alpha)
    bottleneck.generator = torch.Generator().manual_seed(seed)
    return bottleneck


def prior_draws(z, seed):
    """The prior draws the package's WAE penalty makes from a generator seeded with ``seed``."""
    return torch.randn(z.shape, generator=torch.Generator().manual_seed(seed), dtype=z.dtype)


# --------------------------------------------------------------------- (b) pythae
def pythae_models():
    try:
        from pythae.models import RAE_L2, WAE_MMD, RAE_L2_Config, WAE_MMD_Config
    except ImportError as error:  # the benchmark's own extra, not the package's
        raise SystemExit(f"pythae is needed for this check (pip install pythae==0.1.2): {error}") from error
    wae = WAE_MMD(
        WAE_MMD_Config(
            input_dim=(1, 28, 28),
            latent_dim=WAE_LATENT,
            kernel_choice="imq",
            kernel_bandwidth=1.0,
            reg_weight=WAE_LAMBDA,
            reconstruction_loss_scale=WAE_RECONSTRUCTION_SCALE,
        )
    )
    # pythae's RAE_L2 sums the error over features and weighs ||z||**2 / 2: the official
    # weight on the mean of z**2 is embedding_weight = d * 2 * beta / d_z there.
    rae = RAE_L2(RAE_L2_Config(input_dim=(1, 28, 28), latent_dim=RAE_LATENT, embedding_weight=N_FEATURES * rae_alpha()))
    return wae, rae


# ---------------------------------------------------------------------- the check
def draw(seed, latent_dim, n=100):
    """Images in [0, 1], reconstructions near them, and codes off the prior."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (n, 1, 28, 28))
    x_hat = np.clip(x + rng.normal(0.0, 0.2, x.shape), 0.0, 1.0)
    z = rng.normal(0.5, 1.5, (n, latent_dim))
    return (torch.tensor(a, dtype=torch.float64, requires_grad=a is z) for a in (x, x_hat, z))


def relative(a, b):
    a, b = (float(t.detach()) if torch.is_tensor(t) else float(t) for t in (a, b))
    return abs(a - b) / abs(b)


def check_wae(seed, pythae_wae):
    x, x_hat, z = draw(seed, WAE_LATENT)
    pz = prior_draws(z, seed)
    arrays = [t.detach().numpy() for t in (x, x_hat, z, pz)]
    official = official_wae_loss(*arrays) / (WAE_RECONSTRUCTION_SCALE * N_FEATURES)
    official_mmd = official_imq_mmd(arrays[2], arrays[3], WAE_LATENT)
    package_mmd = package_wae(1.0, seed).penalty(z, z, None)
    pythae_total, _, pythae_mmd = pythae_wae.loss_function(x_hat, x, z, pz)
    pythae_scaled = pythae_total / (WAE_RECONSTRUCTION_SCALE * N_FEATURES)
    row = {"seed": seed, "mmd": float(official_mmd)}
    row["mmd: package vs official"] = relative(package_mmd, official_mmd)
    row["mmd: pythae vs official"] = relative(pythae_mmd, official_mmd)
    for data_range, factor in RANGE_FACTOR.items():
        xs, x_hats = to_range(x, data_range), to_range(x_hat, data_range)
        ours = package_loss(xs, x_hats, package_wae(wae_alpha(factor=factor), seed), z, None) / factor
        row[f"loss {data_range}: package vs official"] = relative(ours, official)
        row[f"loss {data_range}: package vs pythae"] = relative(ours, pythae_scaled)
    # Same gradients for the codes, the only input the penalty sees.
    ours = package_loss(x, x_hat, package_wae(wae_alpha(), seed), z, None)
    (grad_ours,) = torch.autograd.grad(ours, z)
    (grad_pythae,) = torch.autograd.grad(pythae_scaled, z)
    row["grad z: package vs pythae"] = float((grad_ours - grad_pythae).abs().max() / grad_pythae.abs().max())
    return row


def check_rae(seed, pythae_rae):
    x, x_hat, z = draw(seed, RAE_LATENT)
    arrays = [t.detach().numpy() for t in (x, x_hat, z)]
    official = official_rae_loss(*arrays)
    pythae_total, _, _ = pythae_rae.loss_function(x_hat, x, z)
    no_weights = nn.Module()  # the code term alone: a decoder without weights
    row = {"seed": seed}
    for data_range, factor in RANGE_FACTOR.items():
        xs, x_hats = to_range(x, data_range), to_range(x_hat, data_range)
        ours = package_loss(xs, x_hats, RegularizedBottleneck(rae_alpha(factor=factor)), z, no_weights) / factor
        row[f"loss {data_range}: package vs official"] = relative(ours, official)
        row[f"loss {data_range}: package vs pythae"] = relative(ours, pythae_total / N_FEATURES)
    # The official MNIST images are 28 x 28 zero-padded to 32 x 32, and the per-pixel mean
    # runs over the 1,024 pixels: with the padding reconstructed exactly, the package's
    # loss on the 28 x 28 images matches at alpha * 1024 / 784.
    padded = [np.pad(a, ((0, 0), (0, 0), (2, 2), (2, 2))) for a in arrays[:2]]
    official_padded = official_rae_loss(*padded, arrays[2]) * 1024 / N_FEATURES
    ours = package_loss(x, x_hat, RegularizedBottleneck(rae_alpha() * 1024 / N_FEATURES), z, no_weights)
    row["loss [0, 1], 32 x 32 padded official: package at alpha * 1024/784 vs official"] = relative(
        ours, official_padded
    )
    (grad_ours,) = torch.autograd.grad(package_loss(x, x_hat, RegularizedBottleneck(rae_alpha()), z, no_weights), z)
    (grad_pythae,) = torch.autograd.grad(pythae_total / N_FEATURES, z)
    row["grad z: package vs pythae"] = float((grad_ours - grad_pythae).abs().max() / grad_pythae.abs().max())
    return row


def check_rae_decoder(seed):
    """The package's decoder term on its own MNIST decoder against the official one."""
    torch.manual_seed(seed)
    decoder = ConvDecoder(RAE_LATENT, (1, 28, 28), "sigmoid").double()
    alpha = rae_alpha()
    bottleneck = RegularizedBottleneck(alpha)
    z = torch.zeros(2, RAE_LATENT, dtype=torch.float64)  # the code term vanishes
    ours = bottleneck.penalty(z, z, decoder).item()
    transposed = [m.weight.detach().numpy() for m in decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    all_matrices = [p.detach().numpy() for p in decoder.parameters() if p.dim() > 1]
    official = RAE_DECODER_L2 * sum((w**2).sum() for w in transposed)
    return {
        "seed": seed,
        "package decoder term": ours,
        "official decoder term": float(official),
        "package / official": ours / float(official),
        "share of the linear layer in the package's sum": 1.0
        - sum((w**2).sum() for w in transposed) / sum((w**2).sum() for w in all_matrices),
        "DECODER_WEIGHT that matches on transposed kernels only": RAE_DECODER_L2 / alpha,
    }


def markdown(result):
    description = result["run"]
    lines = [
        "# The WAE and RAE penalties against pythae and the official formulas",
        "",
        f"Command: `{description['command']}`  ",
        f"Machine: {description['machine']}  ",
        f"Package: {description['package']}; pythae {result['pythae']}, torch {result['torch']}; "
        f"wall time {result['seconds']:.1f} s  ",
        "Float64 tensors: 100 images of 28 x 28 in [0, 1], reconstructions near them, codes "
        "from N(0.5, 1.5**2) (3 seeds); [-1, 1] is the same tensors mapped by 2 t - 1.",
        "",
        "Converted weights (MNIST):",
        "",
        "| paper | official weight | `alpha` on [0, 1] | `alpha` on [-1, 1] |",
        "|---|---|---|---|",
    ]
    for name, row in result["conversions"].items():
        lines.append(f"| {name} | {row['official']} | {row['[0, 1]']:.6g} | {row['[-1, 1]']:.6g} |")
    used = result["used_in_50_epoch_runs"]
    lines += [
        "",
        "The 50-epoch runs (data in [-1, 1]) used "
        f"WAE `alpha={used['wae']:.6g}`, {wae_alpha(factor=4.0) / used['wae']:.0f} times weaker than the "
        f"converted {wae_alpha(factor=4.0):.4g}, and RAE `alpha={used['rae']:g}`, "
        f"{used['rae'] / rae_alpha(factor=4.0):.0f} times stronger than the converted {rae_alpha(factor=4.0):.3g}.",
        "",
        "Every column below is `|a - b| / |b|` of the two losses (or MMD values, or the largest "
        "gradient entry's difference over the largest entry), the official loss divided by "
        "0.05 * 784 (WAE) and the [-1, 1] loss by 4. The package's kernel widths "
        "(`C = 2 * d_z * s`, s in .1, .2, .5, 1, 2, 5, 10) and estimator (within-sample "
        "sums without the diagonal over n (n - 1), the cross sum over n**2) are those of the "
        "official `mmd_penalty` and of pythae's `WAE_MMD`, which the agreement to rounding confirms.",
    ]
    for title, key in (("WAE-MMD", "wae"), ("RAE-L2, code term", "rae")):
        rows = result[key]
        columns = [c for c in rows[0] if c != "seed"]
        lines += ["", f"## {title}: relative differences", "", "| seed | " + " | ".join(columns) + " |"]
        lines.append("|---" * (len(columns) + 1) + "|")
        lines += [f"| {r['seed']} | " + " | ".join(f"{r[c]:.2e}" for c in columns) + " |" for r in rows]
    rows = result["rae_decoder"]
    columns = [c for c in rows[0] if c != "seed"]
    lines += [
        "",
        "## RAE-L2, decoder term, on the package's MNIST decoder (latent 16, at initialisation)",
        "",
        "The package: `alpha * 1e-3 * sum of squares of every decoder weight with 2+ dims` "
        "(the linear layer and the transposed convolutions); the official code: "
        "`1e-7 * sum of squares of the transposed convolutions' kernels`.",
        "",
        "| seed | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    lines += [f"| {r['seed']} | " + " | ".join(f"{r[c]:.4g}" for c in columns) + " |" for r in rows]
    lines += [
        "",
        "pythae's RAE_L2 has no decoder term in its loss: its trainer gives the decoder's "
        "optimizer a `weight_decay` of `reg_weight` (every decoder parameter, biases included), "
        "so that term is compared with the official formula only.",
        "",
        "The official RAE's MNIST images are 28 x 28 zero-padded to 32 x 32, and its per-pixel "
        "mean runs over the 1,024 pixels; the package's loss runs over the 784 it is given. Where "
        "the padding is reconstructed exactly, the package matches at `alpha * 1024 / 784` "
        f"({rae_alpha() * 1024 / N_FEATURES:.3g} on [0, 1], {rae_alpha(factor=4.0) * 1024 / N_FEATURES:.3g} "
        "on [-1, 1]): the RAE table's padded column.",
    ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, help="write OUTPUT.json and OUTPUT.md")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    start = time.perf_counter()
    pythae_wae, pythae_rae = pythae_models()
    result = {
        "run": run_description(),
        "pythae": version("pythae"),
        "torch": torch.__version__,
        "conversions": {
            "WAE, Tolstikhin et al. (zdim 8)": {
                "official": "lambda 10, reconstruction 0.05 * sum",
                **{r: wae_alpha(factor=f) for r, f in RANGE_FACTOR.items()},
            },
            "RAE-L2, Ghosh et al. (latent 16), code term": {
                "official": "embedding_weight 1e-4 on mean z**2",
                **{r: rae_alpha(factor=f) for r, f in RANGE_FACTOR.items()},
            },
            "RAE-L2, decoder L2 (absolute, transposed kernels only)": {
                "official": "1e-7",
                **{r: RAE_DECODER_L2 * f for r, f in RANGE_FACTOR.items()},
            },
        },
        "used_in_50_epoch_runs": USED_IN_50_EPOCH_RUNS,
        "wae": [check_wae(seed, pythae_wae) for seed in args.seeds],
        "rae": [check_rae(seed, pythae_rae) for seed in args.seeds],
        "rae_decoder": [check_rae_decoder(seed) for seed in args.seeds],
    }
    result["seconds"] = time.perf_counter() - start
    text = markdown(result)
    print(text)
    if args.output:
        args.output.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
        args.output.with_suffix(".md").write_text(text)


if __name__ == "__main__":
    main()
