"""fastseg.signal against scipy.signal: the same calls through both, compared for shape, dtype
and values (float64 SciPy on the same values as the reference) and for the errors raised."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.signal as ss

import fastseg
from fastseg import signal as fs
from fastseg.signal import _direct, _fft, _method
from helpers import assert_close

MODES = ("full", "same", "valid")
METHODS = ("direct", "fft", "auto")
BOUNDARIES = ("fill", "wrap", "symm")
# Error allowed relative to the largest magnitude of the reference: direct sums, then FFTs.
TOL = {np.dtype(np.float32): 3e-5, np.dtype(np.float64): 1e-12}
FFT_TOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-12}


def compare(got, a, b, call, tol=TOL):
    """got must equal SciPy's call on a and b in shape and dtype, and its float64 values."""
    expected = call(a, b)
    reference = call(a.astype(np.float64), b.astype(np.float64))
    assert got.shape == expected.shape, f"shape {got.shape} != scipy {expected.shape}"
    assert got.dtype == expected.dtype, f"dtype {got.dtype} != scipy {expected.dtype}"
    assert_close(got, reference, tol[got.dtype])


def random_shapes(rng, ndim):
    """Sizes 1..13 for in1 and in2 independently: odd, even, kernels larger than the input."""
    return (tuple(int(v) for v in rng.integers(1, 14, ndim)),
            tuple(int(v) for v in rng.integers(1, 14, ndim)))


def fits_valid(s1, s2):
    return all(m >= n for m, n in zip(s1, s2)) or all(n >= m for m, n in zip(s1, s2))


SHAPES = [random_shapes(np.random.default_rng(seed), 1 + seed % 2) for seed in range(24)] + [
    ((1,), (1,)), ((5,), (9,)), ((1, 1), (3, 3)), ((7, 7), (3, 3)), ((4, 6), (9, 2)),
    ((3, 5), (6, 8)), ((2, 2), (2, 2)), ((1, 9), (1, 4)), ((9, 1), (4, 1))]


def modes_for(s1, s2):
    """The modes SciPy accepts for these shapes ('valid' needs one to contain the other)."""
    return [m for m in MODES if m != "valid" or fits_valid(s1, s2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", SHAPES, ids=[f"{a}x{b}" for a, b in SHAPES])
def test_convolve_correlate_match_scipy(shapes, dtype, isa, rng):
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    for name, mode, method in itertools.product(("convolve", "correlate"), modes_for(*shapes), METHODS):
        compare(getattr(fs, name)(a, b, mode, method), a, b,
                lambda x, y: getattr(ss, name)(x, y, mode, method),
                FFT_TOL if method != "direct" else TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [s for s in SHAPES if len(s[0]) == 2],
                         ids=[f"{a}x{b}" for a, b in SHAPES if len(a) == 2])
def test_convolve2d_correlate2d_match_scipy(shapes, dtype, isa, rng):
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    for name, mode, boundary, fill in itertools.product(
            ("convolve2d", "correlate2d"), modes_for(*shapes), BOUNDARIES, (0, -1.5)):
        compare(getattr(fs, name)(a, b, mode, boundary, fill), a, b,
                lambda x, y: getattr(ss, name)(x, y, mode, boundary, fill))


@pytest.mark.parametrize("size,kernel", [((300, 7), (7, 5)), ((20, 33), (61, 45)), ((64, 64), (3, 3))])
def test_larger_sizes_and_kernels_larger_than_the_image(size, kernel, rng):
    """Several row tiles and vector tails; repeated wrapping/reflection around a small image."""
    a = rng.standard_normal(size)
    b = rng.standard_normal(kernel)
    for mode in modes_for(size, kernel):
        for boundary in BOUNDARIES:
            compare(fs.correlate2d(a, b, mode, boundary), a, b,
                    lambda x, y: ss.correlate2d(x, y, mode, boundary))
        compare(fs.convolve(a, b, mode, "direct"), a, b, lambda x, y: ss.convolve(x, y, mode, "fft"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_long_1d_signal_split_into_rows(dtype, isa, rng):
    """A long 1-D correlation is cut into rows for the threads; same values as one row."""
    x = rng.standard_normal(2 * _direct._ROW_SPLIT + 1234).astype(dtype)
    w = rng.standard_normal(37).astype(dtype)
    before = fastseg.get_num_threads()
    try:
        fastseg.set_num_threads(2)
        split = fs.correlate(x, w, "full", "direct")
        fastseg.set_num_threads(1)
        single = fs.correlate(x, w, "full", "direct")
    finally:
        fastseg.set_num_threads(before)
    assert np.array_equal(split, single)
    compare(split, x, w, lambda a, b: ss.correlate(a, b, "full", "fft"))


def test_results_do_not_depend_on_thread_count(rng):
    a = rng.standard_normal((67, 45)).astype(np.float32)
    b = rng.standard_normal((5, 7)).astype(np.float32)
    before = fastseg.get_num_threads()
    runs = []
    try:
        for threads in (1, 2, 3):
            fastseg.set_num_threads(threads)
            runs.append([fs.correlate2d(a, b, "same", "symm"), fs.convolve(a, b, method="direct"),
                         fs.fftconvolve(a, b), fs.oaconvolve(a, b[:2, :2])])
    finally:
        fastseg.set_num_threads(before)
    for run in runs[1:]:
        for x, y in zip(runs[0][:2], run[:2]):
            assert np.array_equal(x, y)
        for x, y in zip(runs[0][2:], run[2:]):
            assert_close(x, y, 1e-6)


FFT_CASES = [((40,), (7,), None), ((1000,), (9,), None), ((9,), (1000,), None),
             ((300, 200), (5, 7), None), ((5, 7), (300, 200), None), ((120, 90), (60, 3), None),
             ((4, 50, 60), (4, 5, 3), (1, 2)), ((4, 50, 60), (1, 5, 3), [-1, -2]),
             ((3, 100), (1, 7), 1), ((6, 8, 5), (3, 4, 5), None), ((1, 30), (8, 1), None)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("s1,s2,axes", FFT_CASES, ids=[str(c) for c in FFT_CASES])
def test_fftconvolve_oaconvolve_match_scipy(s1, s2, axes, dtype, rng):
    a = rng.standard_normal(s1).astype(dtype)
    b = rng.standard_normal(s2).astype(dtype)
    for name in ("fftconvolve", "oaconvolve"):
        for mode in MODES:
            try:
                expected = getattr(ss, name)(a, b, mode, axes)
            except ValueError as error:
                with pytest.raises(ValueError, match=str(error).replace("(", r"\(").replace(")", r"\)")):
                    getattr(fs, name)(a, b, mode, axes)
                continue
            compare(getattr(fs, name)(a, b, mode, axes), a, b,
                    lambda x, y: getattr(ss, name)(x, y, mode, axes), FFT_TOL)
            assert expected.shape == getattr(fs, name)(a, b, mode, axes).shape


@pytest.mark.parametrize("s1,s2", [((5000,), (31,)), ((31,), (5000,)), ((1, 3000), (1, 20)),
                                   ((3000, 1), (20, 1))])
def test_fft_method_by_overlap_add_matches_scipy(s1, s2, rng):
    """A long 1-D signal with a short kernel takes the overlap-add path of method='fft'."""
    assert _fft.single_axis_blocks(s1, s2) is not None
    a, b = rng.standard_normal(s1), rng.standard_normal(s2)
    for name, mode in itertools.product(("convolve", "correlate"), modes_for(s1, s2)):
        compare(getattr(fs, name)(a, b, mode, "fft"), a, b,
                lambda x, y: getattr(ss, name)(x, y, mode, "direct"), FFT_TOL)


def test_overlap_add_really_blocks():
    assert _fft._block_length(1000, 9) is not None
    assert _fft._block_length(300, 5) is not None
    assert _fft._block_length(100, 60) is None  # kernel more than half the input: one FFT


@pytest.mark.parametrize("in1,in2", [
    (np.arange(12).reshape(3, 4), np.array([[1, 2], [3, 4]])),                 # integers
    (np.ones((4, 5), np.int16), np.ones((2, 2), np.uint8)),
    (np.ones((5, 5), bool), np.ones((2, 2), bool)),
    (np.arange(9.0).reshape(3, 3) * (1 + 2j), np.ones((2, 2))),                # complex
    (np.ones((4, 4), np.float16), np.ones((2, 2), np.float16)),
    (np.ones((3, 4, 5)), np.ones((2, 2, 2))),                                  # N-d
    (np.float64(2.5), np.float64(3.0)),                                        # 0-d
    (np.ones((0, 3)), np.ones((2, 2))), (np.ones((3,)), np.ones((0,))),        # empty
])
def test_other_inputs_are_scipys_results(in1, in2):
    """Inputs fastseg does not compute give exactly SciPy's result, or its error (N-d float
    inputs of the FFT functions are fastseg's)."""
    calls = [("convolve", ()), ("correlate", ()), ("fftconvolve", ()), ("oaconvolve", ()),
             ("convolve", ("same", "direct")), ("correlate", ("valid", "fft"))]
    if np.ndim(in1) == np.ndim(in2) == 2:
        calls += [("convolve2d", ()), ("correlate2d", ("same", "symm"))]
    for name, args in calls:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
                expected = getattr(ss, name)(in1, in2, *args)
        except Exception as error:  # noqa: BLE001 (whatever SciPy raises)
            with pytest.raises(type(error)) as raised:
                getattr(fs, name)(in1, in2, *args)
            assert str(raised.value) == str(error)
            continue
        got = getattr(fs, name)(in1, in2, *args)
        assert got.dtype == expected.dtype and got.shape == expected.shape
        if name in ("fftconvolve", "oaconvolve") and np.ndim(in1) > 2 and got.dtype.kind == "f":
            assert_close(got, expected, 1e-12)  # N-d float FFTs run on fastseg
        else:
            np.testing.assert_array_equal(got, expected)


def test_mixed_dtypes_follow_scipy(rng):
    """A float32 image with an integer list kernel is computed by fastseg in SciPy's type."""
    a = rng.standard_normal((9, 8)).astype(np.float32)
    sobel = [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    for name, args in [("convolve2d", ("same", "symm")), ("correlate", ("same",)),
                       ("convolve", ()), ("correlate", ("full", "fft"))]:
        got = getattr(fs, name)(a, sobel, *args)
        assert got.dtype == getattr(ss, name)(a, sobel, *args).dtype == np.float64
        assert_close(got, getattr(ss, name)(a.astype(np.float64), sobel, *args), 1e-12)
    small = np.ones((2, 2), np.int16)
    assert fs.correlate(a, small).dtype == ss.correlate(a, small).dtype == np.float32
    assert fs.correlate(a, small.astype(np.float64), method="fft").dtype == np.float64


def test_inputs_of_any_layout_work_and_are_not_modified(rng):
    a = np.asfortranarray(rng.standard_normal((13, 11)).astype(np.float32))
    b = rng.standard_normal((4, 6)).astype(np.float32)[::-1, ::2]
    a.flags.writeable = False
    copies = (a.copy(), b.copy())
    for name in ("convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "oaconvolve"):
        compare(getattr(fs, name)(a, b, "same"), a, b, lambda x, y: getattr(ss, name)(x, y, "same"),
                FFT_TOL)
    assert np.array_equal(a, copies[0]) and np.array_equal(b, copies[1])
    compare(fs.convolve(a[0].tolist(), b[0].tolist()), np.array(a[0].tolist()),
            np.array(b[0].tolist()), ss.convolve)


def test_fft_method_warns_about_nan_like_scipy():
    a = np.ones(5)
    a[0] = np.nan
    with pytest.warns(RuntimeWarning, match="Use of fft convolution on input with NAN"):
        fs.convolve(a, np.ones(3), method="fft")
    assert np.isnan(fs.convolve(a, np.ones(3), method="direct")[:3]).all()


def test_choose_conv_method(rng):
    small = rng.standard_normal((512, 512)).astype(np.float32)
    assert fs.choose_conv_method(small, np.ones((3, 3), np.float32)) == "direct"
    assert fs.choose_conv_method(small, np.ones((63, 63), np.float32)) == "fft"
    assert fs.choose_conv_method(np.ones(1 << 20), np.ones(4000)) == "fft"
    assert fs.choose_conv_method(np.ones(4), np.ones(3)) == "direct"
    method, times = fs.choose_conv_method(small[:32, :32], np.ones((3, 3), np.float32), measure=True)
    assert method in ("direct", "fft") and set(times) == {"direct", "fft"}
    assert method == min(times, key=times.get)
    # Inputs SciPy computes are SciPy's choice.
    ints = (np.ones((9, 9), np.int64), np.ones((3, 3), np.int64))
    assert fs.choose_conv_method(*ints) == ss.choose_conv_method(*ints)


def test_cost_model_is_monotonic():
    for dtype in ("float32", "float64"):
        for ndim in (1, 2):
            s = (256,) * ndim
            assert _method.direct_cost(s, (9,) * ndim, s, dtype) > _method.direct_cost(s, (3,) * ndim, s, dtype)
            big, small = (512,) * ndim, (3,) * ndim
            assert _method.fft_cost(big, small, fs._windows(big, small, "same"), dtype) > \
                _method.fft_cost(s, small, fs._windows(s, small, "same"), dtype)


def test_seed_examples():
    """Seed 001: a 7x7 image and a 3x3 kernel give a 5x5 'valid' result; seed 003: 1-D
    convolution by flip-and-shift, y[n] = sum_k h[n-k] x[k]."""
    image = np.arange(49.0).reshape(7, 7) % 5
    kernel = np.array([[1.0, 0, 1], [0, 1, 0], [1, 0, 1]])
    y = fs.correlate2d(image, kernel, "valid")
    assert y.shape == (5, 5)
    assert y[0, 0] == np.sum(image[:3, :3] * kernel)
    x = np.array([1.0, 2.0, 3.0, 0.5])
    h = np.array([0.5, -1.0, 2.0])
    flip_and_shift = [sum(h[n - k] * x[k] for k in range(len(x)) if 0 <= n - k < len(h))
                      for n in range(len(x) + len(h) - 1)]
    np.testing.assert_allclose(fs.convolve(x, h), flip_and_shift, rtol=1e-15)
    np.testing.assert_allclose(fs.correlate(x, h), fs.convolve(x, h[::-1]), rtol=1e-15)


def test_moving_average(rng):
    x = rng.standard_normal(50)
    for n in (1, 4, 5, 50):
        y = fs.moving_average(x, n)
        assert y.shape == (50 - n + 1,)
        np.testing.assert_allclose(y, [x[i:i + n].mean() for i in range(50 - n + 1)], rtol=1e-12, atol=1e-14)
    full = fs.moving_average(x, 5, "full")
    causal = [x[max(0, t - 4):t + 1].sum() / 5 for t in range(50)]
    np.testing.assert_allclose(full[:50], causal, rtol=1e-12, atol=1e-14)
    assert fs.moving_average(x, 5, "same").shape == (50,)
    assert fs.moving_average(x.astype(np.float32), 3).dtype == np.float32
    assert fs.moving_average(np.arange(6), 2).tolist() == [0.5, 1.5, 2.5, 3.5, 4.5]


@pytest.mark.parametrize("call,error,match", [
    (lambda: fs.moving_average(np.ones((3, 3)), 2), ValueError, r"x: expected a 1-D array, got shape \(3, 3\)"),
    (lambda: fs.moving_average(np.ones(3), 0), ValueError, "n: expected an int >= 1, got 0"),
    (lambda: fs.moving_average(np.ones(3), 4), ValueError, "n: 'valid' needs n <= len.x. = 3, got 4"),
    (lambda: fs.moving_average(np.ones(3), 2.5), TypeError, "n: expected an int, got float"),
    (lambda: fs.moving_average(np.ones(3), 2, "causal"), ValueError, "mode: expected one of full, same, valid"),
    (lambda: fs.moving_average(np.ones(3, complex), 2), TypeError, "x: expected a real array"),
    (lambda: fs.moving_average(np.ones(0), 1, "full"), ValueError, "x: expected a non-empty array"),
])
def test_moving_average_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


A2 = np.ones((5, 6))
K2 = np.ones((2, 3))
SCIPY_ERRORS = [
    ("convolve", (A2, K2, "foo")), ("convolve", (A2, K2, "full", "bar")),
    ("convolve", (A2, K2, "foo", "fft")), ("convolve", (A2, K2, "foo", "direct")),
    ("correlate", (A2, K2, "foo")), ("correlate", (A2, K2, "full", "bar")),
    ("convolve", (A2, K2[0])), ("correlate", (A2, K2[0])),
    ("convolve", (np.ones((5, 2)), np.ones((2, 5)), "valid")),
    ("correlate", (np.ones((5, 2)), np.ones((2, 5)), "valid", "direct")),
    ("convolve2d", (A2[0], K2[0])), ("correlate2d", (A2, K2, "foo")),
    ("convolve2d", (A2, K2, "full", "reflect")), ("correlate2d", (A2, K2, "full", "bogus")),
    ("convolve2d", (A2, K2, "full", "fill", [1.0, 2.0])),
    ("convolve2d", (A2, K2, "full", "fill", np.array([]))),
    ("correlate2d", (A2, K2, "full", "fill", 1 + 2j)),
    ("convolve2d", (np.ones((5, 2)), np.ones((2, 5)), "valid")),
    ("fftconvolve", (A2, K2, "foo")), ("fftconvolve", (A2, K2, "full", [])),
    ("fftconvolve", (A2, K2, "full", [0, 0])), ("fftconvolve", (A2, K2, "full", 5)),
    ("oaconvolve", (A2, K2[0])), ("oaconvolve", (np.ones((9, 3)), np.ones((3, 9)), "valid")),
    ("choose_conv_method", (A2, K2, "foo")),
]


@pytest.mark.parametrize("name,args", SCIPY_ERRORS, ids=[f"{n}{i}" for i, (n, _) in enumerate(SCIPY_ERRORS)])
def test_errors_are_scipys(name, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        with pytest.raises(Exception) as expected:
            getattr(ss, name)(*args)
        with pytest.raises(type(expected.value)) as raised:
            getattr(fs, name)(*args)
    assert str(raised.value) == str(expected.value)


@pytest.mark.parametrize("boundary", ["wrap", "symm", "circular", "symmetric"])
def test_empty_input_with_wrapping_boundary_raises_instead_of_crashing(boundary):
    # SciPy divides by zero here (the process dies); fastseg raises.
    with pytest.raises(ValueError, match=f"in1: boundary '{boundary}' needs a non-empty array"):
        fs.correlate2d(np.ones((0, 4)), np.ones((2, 2)), "full", boundary)
    assert fs.correlate2d(np.ones((0, 4)), np.ones((2, 2)), "full", "fill").shape == (1, 5)
