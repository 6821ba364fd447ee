"""save_model / load_model: model files that load without running code; pickle too."""

import enum
import fractions
import io
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import torch
from sklearn.base import BaseEstimator
from skorch import NeuralNet
from torch import nn

from sklearn_lorae import LoRAEGenerator, LoRAETransformer, _persistence, load_model, save_model

FAST = dict(latent_dim=4, hidden_layer_sizes=(16,), max_epochs=3, random_state=0)


def _same_outputs(original, loaded, X):
    np.testing.assert_array_equal(original.transform(X), loaded.transform(X))
    Z = original.transform(X)
    np.testing.assert_array_equal(original.inverse_transform(Z), loaded.inverse_transform(Z))
    assert original.score(X) == loaded.score(X)
    if hasattr(original, "sample"):
        np.testing.assert_array_equal(original.sample(7, random_state=1), loaded.sample(7, random_state=1))


@pytest.mark.parametrize(
    "estimator",
    [
        LoRAETransformer(**FAST),
        LoRAEGenerator(n_components=2, **FAST),
        LoRAEGenerator(regularizer="truncated", rank=2, sampler="gaussian", **FAST),
        LoRAEGenerator(regularizer="variational", sampler="prior", **FAST),
        LoRAETransformer(regularizer="implicit", n_linear=2, **FAST),
    ],
    ids=["transformer", "generator", "rrae", "vae prior", "irmae"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_gives_bit_identical_outputs(estimator, dtype, digits, tmp_path):
    X = digits[0][:200].astype(dtype)
    estimator.fit(X)
    save_model(estimator, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert type(loaded) is type(estimator) and loaded.get_params() == estimator.get_params()
    assert loaded.n_iter_ == estimator.n_iter_ and loaded.latent_rank_ == estimator.latent_rank_
    _same_outputs(estimator, loaded, X)


class _Activation(str, enum.Enum):
    sigmoid = "sigmoid"


def _numpy_scalars_for_every_parameter(estimator):
    """Every parameter given as the numpy scalar a grid of np.logspace / np.arange / np.array
    hands over: np.float64, np.int64, np.str_, np.bool_ (optimizer_params' values too)."""
    as_numpy = {
        **{name: np.float64(value) for name in ("alpha", "lr", "tol", "validation_fraction")
           for value in [estimator.get_params()[name]]},
        **{name: np.int64(value) for name in ("latent_dim", "n_linear", "max_epochs", "batch_size",
                                              "n_iter_no_change", "verbose", "random_state")
           for value in [estimator.get_params()[name]]},
        "regularizer": np.str_(estimator.regularizer),
        "rank": np.int64(2) if estimator.regularizer == "truncated" else np.str_(estimator.rank),
        "hidden_layer_sizes": tuple(np.int64(size) for size in estimator.hidden_layer_sizes),
        "output_activation": np.str_(estimator.output_activation),
        "device": np.str_("cpu"),
        "warm_start": np.bool_(True),
        "early_stopping": np.bool_(True),
        "optimizer_params": {"weight_decay": np.float64(1e-5), "betas": (np.float64(0.9), np.float64(0.99))},
    }  # fmt: skip
    if "sampler" in estimator.get_params():
        as_numpy.update(sampler=np.str_(estimator.sampler), n_components=np.int64(2))
    return estimator.set_params(**as_numpy)


@pytest.mark.parametrize(
    "estimator",
    [LoRAETransformer(**FAST), LoRAEGenerator(regularizer="truncated", **FAST)],
    ids=["transformer", "generator rrae"],
)
def test_numpy_scalars_in_every_parameter_give_a_file_that_loads(estimator, digits, tmp_path):
    X = digits[0][:200]
    estimator = _numpy_scalars_for_every_parameter(estimator).fit(X)
    # The optimizer keeps the numbers it was given in its own state.
    assert type(estimator.net_.optimizer_.state_dict()["param_groups"][0]["lr"]) is np.float64
    save_model(estimator, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.get_params() == estimator.get_params()
    _same_outputs(estimator, loaded, X)
    np.testing.assert_array_equal(estimator.fit(X).transform(X), loaded.fit(X).transform(X))  # warm_start


def test_a_grid_search_winner_over_logspace_alphas_saves_and_loads(digits, tmp_path):
    from sklearn.model_selection import GridSearchCV

    X = digits[0][:200]
    search = GridSearchCV(LoRAETransformer(**FAST), {"alpha": np.logspace(-4, -2, 3)}, cv=2).fit(X)
    assert type(search.best_estimator_.alpha) is np.float64
    save_model(search.best_estimator_, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.alpha == search.best_params_["alpha"]
    _same_outputs(search.best_estimator_, loaded, X)


def test_what_would_not_load_is_refused_before_anything_is_written(saved, digits):
    before = saved.read_bytes()
    # A str subclass passes the parameter checks, but its file would not load.
    estimator = LoRAETransformer(output_activation=_Activation.sigmoid, **FAST).fit(digits[0][:100])
    with pytest.raises(ValueError, match=r"cannot save output_activation=.*_Activation"):
        save_model(estimator, saved)
    estimator.set_params(output_activation="sigmoid", optimizer_params={"betas": (0.9, fractions.Fraction(99, 100))})
    with pytest.raises(ValueError, match=r"cannot save optimizer_params\['betas'\]\[1\]=Fraction"):
        save_model(estimator, saved)
    assert saved.read_bytes() == before
    assert [path.name for path in saved.parent.iterdir()] == [saved.name]


def _assert_same(original, loaded, name):
    """``loaded`` holds what ``original`` held: arrays equal, a net's weights, optimizer
    state and history, an estimator's parameters and public fitted attributes."""
    if isinstance(original, np.ndarray):
        assert loaded.dtype == original.dtype, name
        np.testing.assert_array_equal(loaded, original, err_msg=name)
    elif isinstance(original, NeuralNet):
        torch.testing.assert_close(loaded.module_.state_dict(), original.module_.state_dict(), rtol=0, atol=0)
        torch.testing.assert_close(loaded.optimizer_.state_dict(), original.optimizer_.state_dict(), rtol=0, atol=0)
        assert list(loaded.history) == list(original.history), name
    elif isinstance(original, BaseEstimator):
        assert type(loaded) is type(original) and loaded.get_params() == original.get_params(), name
        fitted = sorted(key for key in vars(original) if key.endswith("_") and not key.startswith("_"))
        assert sorted(key for key in vars(loaded) if key.endswith("_") and not key.startswith("_")) == fitted, name
        for key in fitted:
            _assert_same(getattr(original, key), getattr(loaded, key), f"{name}.{key}")
    else:
        assert loaded == original, name
        assert type(loaded) is type(original) or isinstance(original, np.generic), name


@pytest.mark.parametrize("cls", [LoRAETransformer, LoRAEGenerator])
def test_every_documented_fitted_attribute_survives_the_round_trip(cls, digits, tmp_path):
    docscrape = pytest.importorskip("numpydoc.docscrape", reason="reading the docstrings needs numpydoc")
    documented = [attribute.name for attribute in docscrape.ClassDoc(cls)["Attributes"]]
    assert {"n_features_in_", "best_epoch_", "net_"} <= set(documented)
    X = digits[0][:200]
    estimator = cls(early_stopping=True, **FAST).fit(X)
    # As a fit on a DataFrame with string column names sets it (pandas is optional).
    estimator.feature_names_in_ = np.array([f"pixel{i}" for i in range(X.shape[1])], dtype=object)
    save_model(estimator, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    for name in documented:
        assert hasattr(estimator, name), f"the fit of this test does not set {name}"
        assert hasattr(loaded, name), f"{name} is lost by save_model / load_model"
        _assert_same(getattr(estimator, name), getattr(loaded, name), name)


def test_a_loaded_model_continues_training_as_the_saved_one_would(digits, tmp_path):
    X = digits[0][:200]
    estimator = LoRAETransformer(**FAST, warm_start=True).fit(X)
    save_model(estimator, tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    np.testing.assert_array_equal(estimator.fit(X).transform(X), loaded.fit(X).transform(X))


@pytest.mark.parametrize(
    "skeleton, message",
    [
        (
            nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 4)),
            r"saved weights '0\.weight' have shape \(16, 64\), but the given module's have shape \(32, 64\)",
        ),
        (
            nn.Sequential(nn.Linear(64, 16), nn.ReLU()),
            r"saved model has weights '2\.weight', which the given modules lack",
        ),
        (
            nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4), nn.ReLU(), nn.Linear(4, 4)),
            r"given modules have weights '4\.weight', which the saved model lacks",
        ),
    ],
    ids=["shape", "missing", "unexpected"],
)
def test_custom_modules_of_another_structure_are_refused_with_a_value_error(skeleton, message, digits, tmp_path):
    encoder = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    save_model(LoRAETransformer(encoder=encoder, **FAST).fit(digits[0][:100]), tmp_path / "model.pt")
    with pytest.raises(ValueError, match=message.replace("'", "'encoder\\.", 1)):
        load_model(tmp_path / "model.pt", encoder=skeleton)


def test_custom_modules_need_their_skeletons_at_load_time(digits, tmp_path):
    X = digits[0][:100]
    estimator = LoRAETransformer(encoder=nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4)), **FAST)
    estimator.fit(X)
    save_model(estimator, tmp_path / "model.pt")
    with pytest.raises(ValueError, match="custom encoder"):
        load_model(tmp_path / "model.pt")
    skeleton = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 4))
    loaded = load_model(tmp_path / "model.pt", encoder=skeleton)
    np.testing.assert_array_equal(estimator.transform(X), loaded.transform(X))


def test_what_is_code_is_not_saved(digits, tmp_path):
    from sklearn.neighbors import KernelDensity
    from skorch.callbacks import EpochTimer

    X = digits[0][:100]
    with pytest.raises(ValueError, match="pickle"):
        save_model(LoRAEGenerator(sampler=KernelDensity(), **FAST).fit(X), tmp_path / "a.pt")
    with pytest.warns(UserWarning, match="callbacks"):
        save_model(LoRAETransformer(callbacks=[EpochTimer()], **FAST).fit(X), tmp_path / "b.pt")
    assert load_model(tmp_path / "b.pt").callbacks is None


@pytest.fixture
def saved(digits, tmp_path):
    path = tmp_path / "model.pt"
    save_model(LoRAEGenerator(n_components=2, **FAST).fit(digits[0][:100]), path)
    return path


def test_a_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a readable sklearn_lorae model file") as raised:
        load_model(saved)
    _assert_no_unsafe_advice(raised.value)


def test_altered_weights_are_refused(saved):
    payload = torch.load(saved, weights_only=True)
    payload["module"]["encoder.0.weight"][0, 0] += 1.0
    torch.save(payload, saved)
    with pytest.raises(ValueError, match="checksum"):
        load_model(saved)


def test_a_file_without_the_entries_added_later_still_loads(saved):
    payload = torch.load(saved, weights_only=True)
    del payload["fitted"]["density"]["params"], payload["fitted"]["density"]["lower_bounds_"]
    payload["sha256"] = _persistence._digest({k: v for k, v in payload.items() if k != "sha256"})
    torch.save(payload, saved)
    assert load_model(saved).density_.get_params()["tol"] == 1e-3  # GaussianMixture's default


def test_a_newer_format_is_refused(saved):
    payload = torch.load(saved, weights_only=True)
    payload["format_version"] = _persistence.FORMAT_VERSION + 1
    torch.save(payload, saved)
    with pytest.raises(ValueError, match="newer"):
        load_model(saved)


def test_a_file_that_cannot_be_opened_raises_what_open_raises(saved, tmp_path):
    # Not "a broken model file": the caller may want to create it, or fix a path.
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "no such file.pt")
    with pytest.raises(IsADirectoryError):
        load_model(tmp_path)
    with pytest.raises(IsADirectoryError):
        save_model(load_model(saved), tmp_path)


def test_a_save_that_fails_leaves_the_file_there_as_it_was(saved, digits, monkeypatch):
    before = saved.read_bytes()
    other = LoRAETransformer(**FAST).fit(digits[0][:100])
    real_save = torch.save

    def interrupted(payload, file):
        real_save(payload, file)  # the whole payload, but never renamed into place
        raise KeyboardInterrupt

    monkeypatch.setattr(_persistence.torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(other, saved)
    assert saved.read_bytes() == before
    assert [path.name for path in saved.parent.iterdir()] == [saved.name]  # no partial file left
    monkeypatch.setattr(_persistence.torch, "save", real_save)
    save_model(other, saved)
    assert isinstance(load_model(saved), LoRAETransformer)
    assert [path.name for path in saved.parent.iterdir()] == [saved.name]


def _torchscript_archive():
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit, deprecated in favour of torch.export
        torch.jit.save(torch.jit.script(nn.Linear(2, 2)), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda: pickle.dumps(LoRAETransformer()), r"is a pickle file, not an sklearn_lorae model file.*pickle\.load"),
        (lambda: b"not a model, not a pickle", "not a readable sklearn_lorae model file: .*not one"),
        (lambda: b"", "not a readable sklearn_lorae model file: it is empty"),
        (_torchscript_archive, "is a TorchScript archive"),
        (
            lambda: _zip_of({"notes.txt": "hello"}),
            "not a readable sklearn_lorae model file: .*zip archive of other files",
        ),
    ],
    ids=["pickle", "junk", "empty", "torchscript", "other zip"],
)
def test_a_file_of_another_kind_is_named_without_torchs_advice(content, message, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(content())
    with warnings.catch_warnings(record=True) as caught, pytest.raises(ValueError, match=message) as raised:
        warnings.simplefilter("always")
        load_model(path)
    _assert_no_unsafe_advice(raised.value)
    assert [str(warning.message) for warning in caught] == []  # torch warns of pickle protocols, TorchScript


def _zip_of(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def _assert_no_unsafe_advice(error):
    """Nothing of torch's advice to load with weights_only=False, in the message or in the
    errors a traceback shows with it."""
    while error is not None:
        for advice in ("weights_only", "arbitrary code", "file an issue", "safe_globals"):
            assert advice not in str(error), str(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


class _RunsCode:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('ran').write_text('!')",))


def test_a_file_that_would_run_code_is_refused_without_running_it(saved, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = torch.load(saved, weights_only=True)
    payload["fitted"]["n_iter_"] = _RunsCode()
    torch.save(payload, saved)
    with pytest.raises(ValueError, match="not a readable.*Python objects.*asks for .*exec") as raised:
        load_model(saved)
    assert not (tmp_path / "ran").exists()
    _assert_no_unsafe_advice(raised.value)


def _as_if_on_cuda(monkeypatch):
    """Make torch.save tag the storages of a model's tensors as CUDA's, as when it was
    trained there; the fit's random generator stays on the CPU on any device (its state
    is the one storage of its size)."""
    original = torch.serialization.location_tag
    generator_bytes = torch.Generator().get_state().nbytes

    def location_tag(storage):
        return original(storage) if storage.nbytes() == generator_bytes else "cuda:0"

    monkeypatch.setattr(torch.serialization, "location_tag", location_tag)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_a_model_saved_on_cuda_loads_on_the_cpu(digits, tmp_path, monkeypatch):
    X = digits[0][:100]
    estimator = LoRAEGenerator(n_components=2, **FAST).fit(X)
    path = tmp_path / "model.pt"
    with monkeypatch.context() as patch:
        _as_if_on_cuda(patch)
        estimator.device = "cuda"
        save_model(estimator, path)
    with zipfile.ZipFile(path) as archive:  # the simulation took: the tensors say CUDA
        pickled = next(archive.read(name) for name in archive.namelist() if name.endswith("data.pkl"))
    assert b"cuda:0" in pickled
    with pytest.warns(UserWarning, match="loaded on the CPU"):
        loaded = load_model(path)
    assert loaded.net_.device == "cpu"
    estimator.device = "auto"
    _same_outputs(estimator, loaded, X)


@pytest.mark.skipif(torch.cuda.is_available(), reason="simulates a machine without CUDA")
def test_a_pickled_model_from_cuda_loads_on_the_cpu(digits, monkeypatch):
    X = digits[0][:100]
    estimator = LoRAEGenerator(n_components=2, **FAST).fit(X)
    expected = estimator.transform(X)
    with monkeypatch.context() as patch:
        _as_if_on_cuda(patch)
        estimator.net_.device = "cuda"
        data = pickle.dumps(estimator)
    with pytest.warns(Warning, match="CUDA"):
        loaded = pickle.loads(data)
    assert str(loaded.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)
