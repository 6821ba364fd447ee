"""Order of the examples in the gallery: from first steps to model selection."""

EXAMPLE_ORDER = [
    "plot_quick_start.py",
    "plot_latent_spectra.py",
    "plot_alpha_sweep.py",
    "plot_tabular.py",
    "plot_generate_digits.py",
    "plot_interpolation.py",
    "plot_grid_search_fid.py",
    "plot_dask_grid_search.py",
]


class ExampleOrder:
    """sphinx-gallery sort key (``within_subsection_order``): the examples listed in
    ``EXAMPLE_ORDER`` in that order, then any other by file name, so that a new example
    shows up without being listed here."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        if filename in EXAMPLE_ORDER:
            return (EXAMPLE_ORDER.index(filename), filename)
        return (len(EXAMPLE_ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
