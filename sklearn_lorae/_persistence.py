"""Model files that load without running code: :func:`save_model` and :func:`load_model`.

A pickled estimator runs whatever code its file asks for when it is loaded, so a model
file from someone else is a risk. This format holds only data: one file written by
``torch.save`` of a dictionary of strings, numbers, lists and tensors, read back with
``torch.load(weights_only=True)``, which refuses anything else. It holds

- ``format``, ``format_version``, ``estimator`` (the class name) and ``sha256``;
- ``params``: the estimator's parameters, JSON-like (numpy scalars as Python's);
- ``fitted``: the fitted attributes that transform / inverse_transform / sample / score
  need, the latent density's parameters included;
- ``module``, ``optimizer``, ``generator``: the net's weights, Adam's state and the
  fit's random stream (so that ``warm_start`` continues a loaded model as it would
  have continued the saved one); ``history``: the records of the epochs and their batches.

The file is written under a temporary name beside ``path`` and renamed over it at the
end, so that a save that fails or is interrupted leaves a file already at ``path`` as it
was. ``sha256`` is the digest of everything else, checked when loading: a file altered or cut
short raises a ValueError instead of loading wrong weights. It guards against
corruption, not against a forger, who could recompute it; the guarantee against code
execution is the loader itself.

What cannot be saved this way: a custom ``encoder`` / ``decoder`` is saved as its weights
only, and :func:`load_model` needs a module of the same structure (``encoder=``,
``decoder=``) to put them in; a ``sampler`` given as an estimator and ``callbacks``
are code, not data, and are refused (callbacks: dropped, with a warning); the optimizer
is saved by its name in ``torch.optim``, and one from elsewhere is refused. Pickle keeps
working for those.
"""

import hashlib
import json
import os
import pickle
import re
import uuid
import warnings
import zipfile

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._density import standard_normal

FORMAT = "sklearn_lorae"
FORMAT_VERSION = 1

_MIXTURE_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def save_model(estimator, path):
    """Save a fitted estimator to ``path`` in a format that loads without running code.

    Read more in the :ref:`User Guide <saving_loading>`.

    Parameters
    ----------
    estimator : LoRAETransformer or LoRAEGenerator
        A fitted estimator.
    path : str or path-like
        The file to write. It is written in full under a temporary name in the same
        folder and then renamed to ``path``: a save that fails leaves a file already
        there unchanged.

    Raises
    ------
    ValueError
        Before anything is written, when the estimator holds what the file cannot: a
        parameter (or a value of ``optimizer_params``) that is not None, a bool, a number,
        a string, or a list, tuple, dict or numpy array of them (numpy scalars are saved
        as Python's), a ``sampler`` estimator, or an optimizer outside ``torch.optim``.

    See Also
    --------
    load_model : read it back.

    Examples
    --------
    >>> import tempfile, os
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_lorae import LoRAETransformer, load_model, save_model
    >>> X = load_digits().data / 16
    >>> lorae = LoRAETransformer(latent_dim=8, max_epochs=2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "lorae.pt")
    >>> save_model(lorae, path)
    >>> bool((load_model(path).transform(X) == lorae.transform(X)).all())
    True
    """
    check_is_fitted(estimator)
    net = estimator.net_
    # Everything is made plain data first, so that what the loader would refuse raises
    # here, before a byte is written, and the checksum is that of what is written.
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "estimator": type(estimator).__name__,
        "params": {name: _as_data(value, name) for name, value in _params(estimator).items()},
        "fitted": _as_data(_fitted(estimator), "fitted attributes"),
        "module": _as_data(net.module_.state_dict(), "module weights"),
        "optimizer": _as_data(net.optimizer_.state_dict(), "optimizer state"),
        "generator": net.iterator_train__generator.get_state(),
        "history": json.dumps(list(net.history), default=_history_value),
    }
    payload["sha256"] = _digest(payload)
    _save_atomically(payload, os.fspath(path))


def load_model(path, *, encoder=None, decoder=None, device=None):
    """Load an estimator written by :func:`save_model`, without unpickling code.

    Read more in the :ref:`User Guide <saving_loading>`.

    Parameters
    ----------
    path : str or path-like
        The file.
    encoder, decoder : torch.nn.Module, default=None
        Required when the saved estimator had a custom ``encoder`` / ``decoder``: a
        module of the same structure, into which the saved weights are loaded.
    device : str, default=None
        Where the net goes; None: the saved estimator's device when it is available here,
        else the CPU (with a warning), as skorch does for pickles.

    Returns
    -------
    estimator : LoRAETransformer or LoRAEGenerator
        Fitted; its transform, inverse_transform, sample and score give what the saved
        estimator's did.

    Raises
    ------
    OSError
        When the file cannot be opened (e.g. FileNotFoundError), as :func:`open` raises it.
    ValueError
        When the file is not a model file of this format (the message says what it is,
        e.g. a pickle), was altered or cut short, or was written by a newer
        sklearn_lorae; when ``encoder`` / ``decoder`` has another structure than the saved
        one (the message names the first weights that differ).
    """
    from . import LoRAEGenerator, LoRAETransformer

    # A file that is not there or cannot be read raises open's OSError, not a broken file's.
    with open(path, "rb") as file:
        payload = _read_payload(file, path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not an sklearn_lorae model file: it holds other data saved by torch.save.")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{path} was written in format version {version}, newer than this sklearn_lorae "
            f"reads ({FORMAT_VERSION}): upgrade sklearn_lorae."
        )
    if payload.get("sha256") != _digest({k: v for k, v in payload.items() if k != "sha256"}):
        raise ValueError(f"{path} does not match its checksum: the file was altered or damaged.")
    classes = {cls.__name__: cls for cls in (LoRAETransformer, LoRAEGenerator)}
    params = dict(payload["params"])
    optimizer = getattr(torch.optim, params["optimizer"], None)
    if not (isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)):
        raise ValueError(f"{path} names an optimizer that torch.optim does not have: {params['optimizer']!r}.")
    params["optimizer"] = optimizer
    for name, module in (("encoder", encoder), ("decoder", decoder)):
        if params[name] == "custom" and module is None:
            raise ValueError(
                f"The saved estimator has a custom {name}: pass a module of the same "
                f"structure as load_model(..., {name}=...) to receive its weights."
            )
        params[name] = module if params[name] == "custom" else None
    estimator = classes[payload["estimator"]](**params)
    _restore(estimator, payload, _load_device(params["device"], device))
    return estimator


# ------------------------------------------------------------------ saving
def _save_atomically(payload, path):
    """``torch.save`` to a new file beside ``path``, renamed to ``path`` once complete
    (``os.replace`` is atomic within a file system)."""
    partial = f"{path}.{uuid.uuid4().hex}.partial"
    try:
        with open(partial, "xb") as file:
            torch.save(payload, file)
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _params(estimator):
    params = estimator.get_params(deep=False)
    for name in ("encoder", "decoder"):
        params[name] = None if params[name] is None else "custom"
    if params.pop("callbacks", None):
        warnings.warn(
            "save_model does not save callbacks (they are code); the loaded estimator has callbacks=None.",
            UserWarning,
            stacklevel=3,
        )
    params["callbacks"] = None
    optimizer = params["optimizer"]
    if getattr(torch.optim, getattr(optimizer, "__name__", ""), None) is not optimizer:
        raise ValueError(
            f"save_model saves the optimizers of torch.optim by name, not {optimizer!r}: pickle the estimator instead."
        )
    params["optimizer"] = optimizer.__name__
    if "sampler" in params and not isinstance(params["sampler"], str):
        raise ValueError(
            "save_model saves the string samplers ('gmm', 'gaussian', 'prior'); a sampler "
            "given as an estimator is code: pickle the estimator instead."
        )
    return params


# What ``torch.load(weights_only=True)`` reads back, besides tensors and containers. Exact
# types: numpy's float64 and str_ are subclasses of float and str, but pickled as numpy
# objects, which the loader refuses.
_PLAIN_TYPES = (type(None), bool, int, float, str)


def _as_data(value, where):
    """``value`` as data that ``weights_only`` loading accepts: numpy scalars and arrays
    as Python scalars and lists, tensors detached on the CPU, dicts (an OrderedDict as a
    dict), lists and tuples walked; anything else raises a ValueError naming ``where``."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if type(value) in (list, tuple):
        return type(value)(_as_data(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, dict):
        return {_as_data(key, where): _as_data(item, f"{where}[{key!r}]") for key, item in value.items()}
    raise ValueError(
        f"save_model cannot save {where}={value!r} (a {type(value).__module__}.{type(value).__qualname__}): "
        "a model file holds only None, bools, numbers, strings, lists, tuples, dicts, numpy arrays "
        "and tensors (a random_state as an int or None). Pickle the estimator instead."
    )


def _history_value(value):
    return value.item() if isinstance(value, (np.generic, torch.Tensor)) else str(value)


def _fitted(estimator):
    fitted = {
        "n_features_in_": int(estimator.n_features_in_),
        "n_iter_": int(estimator.n_iter_),
        "latent_rank_": int(estimator.latent_rank_),
        "rank_": None if estimator.rank_ is None else int(estimator.rank_),
        "latent_singular_values_": torch.from_numpy(np.asarray(estimator.latent_singular_values_)),
        "fit_dtype": np.dtype(estimator._fit_dtype).name,
        "seed": int(estimator._seed),
        "n_threads": estimator._n_threads,
    }
    if hasattr(estimator, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(name) for name in estimator.feature_names_in_]
    if hasattr(estimator, "best_epoch_"):
        fitted["best_epoch_"] = int(estimator.best_epoch_)
    bottleneck = estimator.net_.module_.bottleneck
    if getattr(bottleneck, "adaptive", False):  # aRRAE: where its rank search stands
        fitted["rank_search"] = bottleneck.search_state()
    density = getattr(estimator, "density_", None)
    if density is not None:
        fitted["density"] = {
            "n_components": int(density.n_components),
            "params": density.get_params(),
            "converged_": bool(density.converged_),
            "n_iter_": int(density.n_iter_),
            "lower_bound_": float(density.lower_bound_),
            **{name: torch.from_numpy(np.asarray(getattr(density, name))) for name in _MIXTURE_ARRAYS},
        }
        if hasattr(density, "lower_bounds_"):  # scikit-learn >= 1.7
            fitted["density"]["lower_bounds_"] = [float(bound) for bound in density.lower_bounds_]
    return fitted


def _digest(payload):
    """SHA-256 of the payload, tensors by their bytes, in a fixed order."""
    digest = hashlib.sha256()

    def feed(value):
        if isinstance(value, torch.Tensor):
            tensor = value.detach().cpu().contiguous()
            digest.update(f"tensor{tuple(tensor.shape)}{tensor.dtype}".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            digest.update(b"{")
            for key in sorted(value, key=str):
                digest.update(repr(key).encode())
                feed(value[key])
            digest.update(b"}")
        elif isinstance(value, (list, tuple)):
            digest.update(b"[")
            for item in value:
                feed(item)
            digest.update(b"]")
        else:
            digest.update(repr(value).encode())

    feed(payload)
    return digest.hexdigest()


# ----------------------------------------------------------------- loading
def _read_payload(file, path):
    """The dictionary in ``file``, or a ValueError that says what the file is instead.

    What is not the zip archive of ``torch.save`` is told apart before torch reads it:
    torch's own errors for other files advise loading with ``weights_only=False``, which
    runs whatever code the file holds, and it warns about the pickle protocols it meets.
    """
    unreadable = f"{path} is not a readable sklearn_lorae model file"
    head = file.read(4)
    if not head:
        raise ValueError(f"{unreadable}: it is empty.")
    if head[:1] == b"\x80" and head[1] in range(2, 6):  # the PROTO opcode of pickle protocols 2 to 5
        raise ValueError(
            f"{path} is a pickle file, not an sklearn_lorae model file (written by save_model); "
            "open trusted pickles with pickle.load."
        )
    if head != b"PK\x03\x04":
        raise ValueError(f"{unreadable}: save_model writes a zip archive, and this file is not one.")
    file.seek(0)
    try:
        names = zipfile.ZipFile(file).namelist()
    except zipfile.BadZipFile as error:
        raise ValueError(f"{unreadable}: the zip archive is damaged or cut short ({error}).") from None
    if any(name.endswith("/constants.pkl") for name in names):
        raise ValueError(f"{path} is a TorchScript archive (torch.jit.save), not an sklearn_lorae model file.")
    if not any(name.endswith("/data.pkl") for name in names):
        raise ValueError(f"{unreadable}: it is a zip archive of other files.")
    file.seek(0)
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        needed = re.search(r"GLOBAL (\S+) was not an allowed global", str(error))
        raise ValueError(
            f"{unreadable}: it holds Python objects, not only data"
            + (f" (it asks for {needed.group(1)})" if needed else "")
            + ". save_model writes data only; this file was written otherwise or altered."
        ) from None
    except Exception as error:  # noqa: BLE001 - torch raises many types for broken archives
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{unreadable}: {reason}") from error


def _load_device(saved, requested):
    from ._validation import resolve_device

    if requested is not None:
        return resolve_device(requested)
    try:
        return resolve_device(saved)
    except ValueError:
        warnings.warn(
            f"The model was saved with device={saved!r}, which is not available here; it is loaded on the CPU.",
            UserWarning,
            stacklevel=3,
        )
        return "cpu"


def _restore(estimator, payload, device):
    fitted = payload["fitted"]
    estimator.n_features_in_ = fitted["n_features_in_"]
    if "feature_names_in_" in fitted:
        estimator.feature_names_in_ = np.asarray(fitted["feature_names_in_"], dtype=object)
    image_shape = estimator._check_image_shape()
    net = estimator._new_net(image_shape, device, fitted["seed"])
    bottleneck = net.module_.bottleneck
    if "bottleneck.basis" in payload["module"]:  # the truncated SVD's basis, None until fitted
        bottleneck.basis = torch.empty_like(payload["module"]["bottleneck.basis"], device=device)
    if fitted["rank_"] is not None:
        bottleneck.rank = fitted["rank_"]
    if "rank_search" in fitted:
        bottleneck.load_search_state(fitted["rank_search"])
    _check_same_structure(net.module_.state_dict(), payload["module"])
    net.module_.load_state_dict(payload["module"])
    net.optimizer_.load_state_dict(payload["optimizer"])
    net.iterator_train__generator.set_state(payload["generator"])
    net.history = History(json.loads(payload["history"]))
    estimator.net_ = net
    estimator.n_iter_ = fitted["n_iter_"]
    estimator.latent_rank_ = fitted["latent_rank_"]
    estimator.rank_ = fitted["rank_"]
    estimator.latent_singular_values_ = fitted["latent_singular_values_"].numpy()
    estimator._fit_dtype = np.dtype(fitted["fit_dtype"])
    estimator._remember_build(fitted["seed"], fitted["n_threads"])
    if "best_epoch_" in fitted:
        estimator.best_epoch_ = fitted["best_epoch_"]
    if "density" in fitted:
        estimator.density_ = _mixture(fitted["density"], estimator)


def _check_same_structure(expected, saved):
    """The ValueError that load_model promises when a given encoder / decoder has another
    structure than the saved one's (torch's load_state_dict raises a RuntimeError)."""
    hint = "pass an encoder / decoder of the saved structure to load_model"
    for name, weights in saved.items():
        if name not in expected:
            raise ValueError(f"The saved model has weights {name!r}, which the given modules lack: {hint}.")
        if weights.shape != expected[name].shape:
            raise ValueError(
                f"The saved weights {name!r} have shape {tuple(weights.shape)}, but the given module's "
                f"have shape {tuple(expected[name].shape)}: {hint}."
            )
    missing = [name for name in expected if name not in saved]
    if missing:
        raise ValueError(f"The given modules have weights {missing[0]!r}, which the saved model lacks: {hint}.")


def _mixture(saved, estimator):
    if estimator.sampler == "prior":
        return standard_normal(estimator.latent_dim)
    # Files written before the mixture's parameters were saved hold its number of components only.
    mixture = GaussianMixture(**saved.get("params", {"n_components": saved["n_components"], "covariance_type": "full"}))
    for name in _MIXTURE_ARRAYS:
        setattr(mixture, name, saved[name].numpy())
    mixture.converged_, mixture.n_iter_ = saved["converged_"], saved["n_iter_"]
    mixture.lower_bound_ = saved["lower_bound_"]
    if "lower_bounds_" in saved:
        mixture.lower_bounds_ = saved["lower_bounds_"]
    mixture.n_features_in_ = mixture.means_.shape[1]
    return mixture
