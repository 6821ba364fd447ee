import doctest
import warnings

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="plotting needs the 'plot' extra")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from sklearn_lorae import plotting  # noqa: E402
from sklearn_lorae.plotting import plot_image_grid, plot_latent_spectrum  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    # Every call without ax opens a figure: matplotlib warns past 20 open ones.
    yield
    plt.close("all")


def test_plot_image_grid_tiles_rows_into_one_image():
    ax = plot_image_grid(np.zeros((5, 64)), n_cols=3, padding=1)
    assert ax.images[0].get_array().shape == (2 * 9 + 1, 3 * 9 + 1)


def test_plot_image_grid_asks_for_the_shape_of_non_square_rows():
    with pytest.raises(ValueError, match="image_shape"):
        plot_image_grid(np.zeros((2, 10)))


def test_plot_latent_spectrum_normalises_and_leaves_out_zeros():
    class Fitted:
        latent_singular_values_ = np.array([4.0, 1.0, 0.0])

    y = plot_latent_spectrum(Fitted()).lines[0].get_ydata()
    assert y[0] == 1.0 and y[1] == 0.25 and np.isnan(y[2])


def test_without_ax_each_plot_draws_into_a_new_figure_of_its_own():
    _, current = plt.subplots()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spectrum = plot_latent_spectrum([4.0, 1.0, 1e-3])
        grid = plot_image_grid(np.arange(128.0).reshape(2, 64))
    assert [str(warning.message) for warning in caught] == []  # a grid on the log axes warned
    assert len({current.figure, spectrum.figure, grid.figure}) == 3
    assert not current.lines and not current.images
    assert spectrum.get_yscale() == "log" and not spectrum.images
    assert grid.get_yscale() == "linear" and len(grid.images) == 1 and not grid.lines


def test_with_ax_each_plot_draws_there():
    _, (left, right) = plt.subplots(1, 2)
    assert plot_latent_spectrum([4.0, 1.0], ax=left) is left and plot_image_grid(np.zeros((2, 64)), ax=right) is right
    assert len(plt.get_fignums()) == 1 and len(left.lines) == 1 and len(right.images) == 1


def test_the_docstring_examples_pass_and_warn_of_nothing_after_another_plot():
    plot_latent_spectrum([4.0, 1.0])  # the current Axes is now a log one
    runner = doctest.DocTestRunner()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for test in doctest.DocTestFinder().find(plotting):
            runner.run(test, out=lambda text: None)
    assert runner.tries >= 2 and runner.failures == 0
    assert [str(warning.message) for warning in caught] == []
