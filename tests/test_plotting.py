import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib", reason="plotting needs the 'plot' extra")
matplotlib.use("Agg")

from sklearn_lorae.plotting import plot_image_grid, plot_latent_spectrum  # noqa: E402


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
