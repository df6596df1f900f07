"""autograder.data: generated 2-D data sets and the decision-boundary picture (lesson 8, ps5)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autograder.data import accuracy, make_moons, make_spirals, plot_decision_boundary  # noqa: E402


@pytest.mark.parametrize("make", [make_moons, make_spirals])
def test_shapes_dtypes_and_balance(make):
    X, y = make(101, noise=0.1, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float64
    assert y.shape == (101,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert abs(int((y == 0).sum()) - int((y == 1).sum())) <= 1


@pytest.mark.parametrize("make", [make_moons, make_spirals])
def test_same_seed_same_data_other_seed_other_data(make):
    X1, y1 = make(50, noise=0.2, seed=7)
    X2, y2 = make(50, noise=0.2, seed=7)
    X3, _ = make(50, noise=0.2, seed=8)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(X1, X3)


def test_moons_without_noise_lie_on_their_arcs():
    X, y = make_moons(60, noise=0.0, seed=0)
    r0 = np.linalg.norm(X[y == 0], axis=1)
    r1 = np.linalg.norm(X[y == 1] - np.array([1.0, 0.5]), axis=1)
    np.testing.assert_allclose(r0, 1.0)
    np.testing.assert_allclose(r1, 1.0)
    assert (X[y == 0, 1] >= -1e-12).all() and (X[y == 1, 1] <= 0.5 + 1e-12).all()


def test_noise_is_its_standard_deviation():
    X1, y1 = make_moons(4000, noise=0.3, seed=1)
    r = np.linalg.norm(X1[y1 == 0], axis=1) - 1.0
    assert 0.2 < r.std() < 0.4


def test_spirals_stay_within_radius_and_classes_are_rotated():
    X, y = make_spirals(200, noise=0.0, seed=0)
    assert np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-12
    a = X[y == 0][np.argsort(np.linalg.norm(X[y == 0], axis=1))]
    b = X[y == 1][np.argsort(np.linalg.norm(X[y == 1], axis=1))]
    np.testing.assert_allclose(a, -b, atol=1e-12)


def test_bad_sizes_raise():
    with pytest.raises(ValueError):
        make_moons(1)
    with pytest.raises(ValueError):
        accuracy([0, 1], [0, 1, 1])


def test_accuracy():
    assert accuracy(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])) == 0.75
    assert accuracy(np.array([[1], [0]]), np.array([1, 0])) == 1.0


def test_decision_boundary_grid_colours_and_boundary():
    X, y = make_moons(80, noise=0.1, seed=2)
    calls = []

    def predict(P):
        calls.append(P.copy())
        return P[:, 0] + P[:, 1] - 0.5   # a logit: the boundary is the line x0 + x1 = 0.5

    fig, ax = plt.subplots()
    out = plot_decision_boundary(predict, X, y, ax=ax, resolution=40, title="t")
    assert out is ax
    assert len(calls) == 1 and calls[0].shape == (40 * 40, 2)
    grid = calls[0]
    assert (grid.min(axis=0) < X.min(axis=0)).all() and (grid.max(axis=0) > X.max(axis=0)).all()
    # one filled contour (classes), one boundary line, one scatter per class with every point
    from matplotlib.collections import PathCollection
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert sum(len(c.get_offsets()) for c in scatters) == len(X)
    # the boundary line lies where the logit crosses 0: on x0 + x1 = 0.5
    lines = [v for c in ax.collections if c not in scatters for p in c.get_paths()
             for v in [p.vertices] if len(v) and np.allclose(v.sum(axis=1), 0.5, atol=1e-6)]
    assert lines, "no boundary line on x0 + x1 = 0.5"
    assert len(ax.collections) >= len(scatters) + 2, "expected a filled region and a boundary"
    assert ax.get_title() == "t"
    plt.close(fig)


def test_decision_boundary_creates_axes_and_rejects_wrong_length():
    X, y = make_moons(20, noise=0.1, seed=0)
    ax = plot_decision_boundary(lambda P: (P[:, 0] > 0.5).astype(int), X, y, resolution=10)
    assert ax.figure is plt.gcf()
    with pytest.raises(ValueError, match="one number per point"):
        plot_decision_boundary(lambda P: np.zeros(3), X, y, resolution=10)
    plt.close("all")
