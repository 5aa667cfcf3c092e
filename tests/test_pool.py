"""max_pool2d, max_unpool2d, avg_pool2d, interpolate and their gradients against float64
references (and PyTorch when installed), on every ISA path."""

import numpy as np
import pytest

import fastseg
import reference_pool as ref
from helpers import (Op, assert_close, assert_same_for_any_thread_count, check_finite_differences,
                     check_op, torch)

F = torch.nn.functional if torch is not None else None


def arg(pair):
    """A pair as PyTorch users write it: an int when both values agree."""
    return pair[0] if pair[0] == pair[1] else pair


def batched(f):
    """A 4-D reference applied to a 3-D (unbatched) array too."""
    def wrapped(x, *args, **kwargs):
        if x.ndim == 4:
            return f(x, *args, **kwargs)
        result = f(x[None], *args, **kwargs)
        return tuple(r[0] for r in result) if isinstance(result, tuple) else result[0]
    return wrapped


def random_pool_config(rng, dilation=True, two_by_two=False):
    """A valid pooling configuration: kernel 1..5, stride 1..6 (often above the kernel), padding
    up to half the kernel, dilation 1..3, ceil_mode, odd sizes (wide ones for the vector paths),
    batch 0, 1 or 3, sometimes unbatched. two_by_two: 2x2 windows at stride 2 (their own
    kernels), padding 0 or 1."""
    while True:
        kernel = tuple(int(k) for k in rng.integers(1, 6, 2))
        stride = tuple(int(s) for s in rng.integers(1, 7, 2))
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
        dil = tuple(int(d) for d in rng.integers(1, 4, 2)) if dilation else (1, 1)
        if two_by_two:
            kernel, stride, dil = (2, 2), (2, 2), (1, 1)
            padding = (int(rng.random() < 0.2),) * 2
        ceil_mode = bool(rng.random() < 0.5)
        wide = two_by_two or rng.random() < 0.4
        size = (int(rng.integers(1, 20)), int(rng.integers(33 if two_by_two else 1, 140 if wide else 40)))
        axes = list(zip(size, kernel, stride, padding, dil))
        out = tuple(ref.pool_output_size(*a, ceil_mode) for a in axes)
        if min(out) < 1 or any(ref.has_empty_window(o, *a) for o, a in zip(out, axes)):
            continue
        batch = int(rng.choice([0, 1, 3]))
        shape = (batch, int(rng.integers(1, 4))) + size
        if batch == 1 and rng.random() < 0.3:
            shape = shape[1:]
        return dict(shape=shape, kernel=kernel, stride=stride, padding=padding, dilation=dil,
                    ceil_mode=ceil_mode)


def max_args(cfg):
    return dict(kernel_size=arg(cfg["kernel"]), stride=arg(cfg["stride"]),
                padding=arg(cfg["padding"]), dilation=arg(cfg["dilation"]),
                ceil_mode=cfg["ceil_mode"])


def max_pool_reference(x, cfg):
    return batched(ref.max_pool2d)(x, cfg["kernel"], cfg["stride"], cfg["padding"],
                                   cfg["dilation"], cfg["ceil_mode"])


def max_pool_op(cfg):
    kw = max_args(cfg)

    def grads(dy, x):
        _, indices = fastseg.max_pool2d(x, return_indices=True, **kw)
        return {"x": fastseg.grad.max_pool2d_input(dy, indices, x.shape)}

    def reference_grads(dy, x):
        _, indices = max_pool_reference(x, cfg)
        if x.ndim == 3:
            return {"x": ref.scatter_add(dy[None], indices[None], x.shape[1:])[0]}
        return {"x": ref.scatter_add(dy, indices, x.shape[2:])}

    return Op(lambda x: fastseg.max_pool2d(x, **kw), grads,
              lambda x: max_pool_reference(x, cfg)[0], reference_grads,
              lambda x: F.max_pool2d(x, **kw))


POOL_CONFIGS = ([random_pool_config(np.random.default_rng(seed)) for seed in range(30)]
                + [random_pool_config(np.random.default_rng(seed), two_by_two=True)
                   for seed in range(300, 308)])
AVG_CONFIGS = ([random_pool_config(np.random.default_rng(100 + seed), dilation=False)
                for seed in range(24)]
               + [random_pool_config(np.random.default_rng(seed), two_by_two=True)
                  for seed in range(310, 318)])
DTYPES = [np.float32, np.float64]


def nan_equal(a, b):
    return np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", POOL_CONFIGS, ids=[f"cfg{i}" for i in range(len(POOL_CONFIGS))])
def test_max_pool2d_sweep(cfg, dtype, isa, rng):
    x = rng.standard_normal(cfg["shape"])
    check_op(max_pool_op(cfg), {"x": x}, dtype, rng)
    x = x.astype(dtype)
    y, indices = fastseg.max_pool2d(x, return_indices=True, **max_args(cfg))
    y_ref, indices_ref = max_pool_reference(x, cfg)
    assert indices.dtype == np.int64 and indices.shape == y.shape
    assert np.array_equal(y, y_ref) and np.array_equal(indices, indices_ref)
    if torch is not None:
        y_t, indices_t = F.max_pool2d(torch.from_numpy(x), return_indices=True, **max_args(cfg))
        assert np.array_equal(y, y_t.numpy()) and np.array_equal(indices, indices_t.numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(8))
def test_max_pool2d_nans_ties_and_infinities_follow_torch(seed, dtype, isa):
    """Windows full of equal values, -inf and NaNs: the value and index PyTorch's CPU picks (ties
    to the first element, a NaN wins, the last NaN among several)."""
    rng = np.random.default_rng(seed)
    cfg = random_pool_config(rng)
    values = np.array([-np.inf, -1.0, 0.0, -0.0, 2.0, np.inf, np.nan])
    x = values[rng.integers(0, len(values), cfg["shape"])].astype(dtype)
    y, indices = fastseg.max_pool2d(x, return_indices=True, **max_args(cfg))
    y_ref, indices_ref = max_pool_reference(x, cfg)
    assert nan_equal(y, y_ref) and np.array_equal(indices, indices_ref)
    if torch is not None:
        y_t, indices_t = F.max_pool2d(torch.from_numpy(x), return_indices=True, **max_args(cfg))
        assert nan_equal(y, y_t.numpy()) and np.array_equal(indices, indices_t.numpy())


def test_max_pool2d_nan_and_tie_rules_by_example(isa):
    nan = np.nan
    x = np.array([[[[1.0, nan, 3.0, 3.0, -np.inf, -np.inf, nan, 5.0],
                    [nan, 5.0, 3.0, 3.0, -np.inf, -np.inf, 7.0, nan]]]] * 4, np.float32)
    x = np.tile(x, (1, 1, 1, 8))  # 64 columns: vector paths and tails
    y, indices = fastseg.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y[0, 0, 0, :4], [nan, 3.0, -np.inf, nan])
    # The last NaN of the window; the first of equal maxima; the first element for all -inf.
    np.testing.assert_array_equal(indices[0, 0, 0, :4], [64, 2, 4, 71])


def unpool_config(cfg):
    """The max_unpool2d undoing a max_pool2d configuration (no dilation): output_size is the
    pooled input's size, sometimes given as 4 values, sometimes left to the default."""
    kw = dict(kernel_size=arg(cfg["kernel"]), stride=arg(cfg["stride"]), padding=arg(cfg["padding"]))
    size = cfg["shape"][-2:]
    default = tuple((o - 1) * s - 2 * p + k for o, s, p, k in
                    zip([ref.pool_output_size(n, k, s, p, 1, cfg["ceil_mode"])
                         for n, k, s, p in zip(size, cfg["kernel"], cfg["stride"], cfg["padding"])],
                        cfg["stride"], cfg["padding"], cfg["kernel"]))
    output_size = None if default == tuple(size) else size
    if output_size is not None and len(cfg["shape"]) == 4 and sum(size) % 2:
        output_size = tuple(cfg["shape"])
    return kw, output_size


def has_repeats(indices):
    """Whether some plane holds an index twice (overlapping pooling windows can pick one element
    twice)."""
    planes = indices.reshape(-1, indices.shape[-2] * indices.shape[-1])
    return any(len(np.unique(p)) < len(p) for p in planes)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", AVG_CONFIGS[14:], ids=[f"cfg{i}" for i in range(14, len(AVG_CONFIGS))])
def test_max_unpool2d_sweep(cfg, dtype, isa, rng):
    source = rng.standard_normal(cfg["shape"]).astype(dtype)
    pool = dict(max_args(cfg), dilation=1)
    _, indices = fastseg.max_pool2d(source, return_indices=True, **pool)
    kw, output_size = unpool_config(cfg)
    size = cfg["shape"][-2:]

    def reference(x):
        if x.ndim == 3:
            return ref.max_unpool2d(x[None], indices[None], size)[0]
        return ref.max_unpool2d(x, indices, size)

    def torch_forward(x):
        return F.max_unpool2d(x, torch.from_numpy(indices), output_size=output_size, **kw)

    op = Op(lambda x: fastseg.max_unpool2d(x, indices, output_size=output_size, **kw),
            lambda dy, x: {"x": fastseg.grad.max_unpool2d_input(dy, indices)},
            reference,
            lambda dy, x: {"x": batched(ref.gather)(dy, indices[None] if x.ndim == 3 else indices)},
            None if has_repeats(indices) else torch_forward)  # undefined in PyTorch
    check_op(op, {"x": rng.standard_normal(indices.shape)}, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_unpool2d_repeated_indices_last_element_wins(dtype, isa, rng):
    """Repeated indices within a plane: the element last in the input's row-major order wins,
    for any thread count (PyTorch leaves this undefined)."""
    x = rng.standard_normal((3, 5, 9, 13)).astype(dtype)
    indices = rng.integers(0, 20, x.shape)  # 117 elements into 20 of 117 places: many repeats
    expected = ref.max_unpool2d(x, indices, (9, 13))
    before = fastseg.get_num_threads()
    try:
        for threads in (1, 2, 3):
            fastseg.set_num_threads(threads)
            y = fastseg.max_unpool2d(x, indices, 1)
            assert np.array_equal(y, expected)
    finally:
        fastseg.set_num_threads(before)
    # Gradient: a gather, as PyTorch (every element gets the gradient at its index).
    dy = rng.standard_normal(x.shape).astype(dtype)
    assert np.array_equal(fastseg.grad.max_unpool2d_input(dy, indices), ref.gather(dy, indices))


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("bad", [-1, 20, -(2**62), 2**62])
def test_max_unpool2d_rejects_out_of_range_indices_without_writing(where, bad, isa):
    x = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    indices = np.tile(np.array([[0, 1], [4, 5]]), (2, 3, 1, 1))  # into 4x5 planes
    position = {"first": (0, 0, 0, 0), "middle": (1, 0, 1, 0), "last": (1, 2, 1, 0)}[where]
    indices[position] = bad
    indices[1, 2, 1, 1] = 99  # a later bad index: the first one is reported
    copies = x.copy(), indices.copy()
    expected = (rf"indices: index {bad} at position \({', '.join(map(str, position))}\) is out "
                r"of range for planes of 4x5 \(expected 0 <= index < 20\)")
    with pytest.raises(ValueError, match=expected):
        fastseg.max_unpool2d(x, indices, 2, output_size=(4, 5))
    with pytest.raises(ValueError, match=expected):
        fastseg.grad.max_unpool2d_input(np.zeros((2, 3, 4, 5), np.float32), indices)
    assert np.array_equal(x, copies[0]) and np.array_equal(indices, copies[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("large", [(14, 74), (15, 75), (14, 75)])
def test_index_ops_on_2x2_blocks_and_their_fallback(large, dtype, isa, rng):
    """Indices of a 2x2 stride-2 max pooling run as block kernels (vector rows and tails, odd
    large sides); a plane with an index outside its block falls back to the scalar loop, one
    with an index out of range raises at the first bad position."""
    source = rng.standard_normal((2, 3) + large).astype(dtype)
    v, indices = fastseg.max_pool2d(source, 2, return_indices=True)
    v_ref, indices_ref = ref.max_pool2d(source, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert np.array_equal(v, v_ref) and np.array_equal(indices, indices_ref)
    indices[1, 2, 3, 5] = 0           # in range, outside its block: repeats in that plane
    indices[0, 1, 6, 36] = indices[0, 1, 6, 35]  # the last column's element, twice
    dy = rng.standard_normal((2, 3) + large).astype(dtype)
    assert np.array_equal(fastseg.max_unpool2d(v, indices, 2, output_size=large),
                          ref.max_unpool2d(v, indices, large))
    assert_close(fastseg.grad.max_pool2d_input(v, indices, source.shape),
                 ref.scatter_add(v, indices, large), 1e-6)
    assert np.array_equal(fastseg.grad.max_unpool2d_input(dy, indices), ref.gather(dy, indices))
    indices[1, 0, 4, 20] = large[0] * large[1]
    match = rf"index {large[0] * large[1]} at position \(1, 0, 4, 20\)"
    with pytest.raises(ValueError, match=match):
        fastseg.max_unpool2d(v, indices, 2, output_size=large)
    with pytest.raises(ValueError, match=match):
        fastseg.grad.max_pool2d_input(v, indices, source.shape)
    with pytest.raises(ValueError, match=match):
        fastseg.grad.max_unpool2d_input(dy, indices)


def test_max_pool2d_input_rejects_out_of_range_indices():
    dy = np.ones((1, 2, 2, 2))
    indices = np.zeros((1, 2, 2, 2), np.int64)
    indices[0, 1, 1, 0] = 16
    with pytest.raises(ValueError, match=r"indices: index 16 at position \(0, 1, 1, 0\) is out of "
                                         r"range for planes of 4x4 \(expected 0 <= index < 16\)"):
        fastseg.grad.max_pool2d_input(dy, indices, (1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"index -3 at position \(1, 1, 0\)"):
        fastseg.grad.max_pool2d_input(dy[0], np.array([[[0, 1], [2, 3]], [[0, 1], [-3, 3]]]), (2, 4, 4))


def avg_args(cfg, rng_value):
    """avg_pool2d arguments; rng_value in [0, 1) picks count_include_pad and divisor_override."""
    return dict(kernel_size=arg(cfg["kernel"]), stride=arg(cfg["stride"]),
                padding=arg(cfg["padding"]), ceil_mode=cfg["ceil_mode"],
                count_include_pad=rng_value < 0.5,
                divisor_override=None if rng_value % 0.5 < 0.35 else 1 + int(rng_value * 10) % 5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("index", range(len(AVG_CONFIGS)), ids=[f"cfg{i}" for i in range(len(AVG_CONFIGS))])
def test_avg_pool2d_sweep(index, dtype, isa, rng):
    cfg = AVG_CONFIGS[index]
    kw = avg_args(cfg, (index * 0.377) % 1)
    ref_args = (cfg["kernel"], cfg["stride"], cfg["padding"], cfg["ceil_mode"],
                kw["count_include_pad"], kw["divisor_override"])

    def reference_grads(dy, x):
        if x.ndim == 3:
            return {"x": ref.avg_pool2d_grad(dy[None], (1,) + x.shape, *ref_args)[0]}
        return {"x": ref.avg_pool2d_grad(dy, x.shape, *ref_args)}

    op = Op(lambda x: fastseg.avg_pool2d(x, **kw),
            lambda dy, x: {"x": fastseg.grad.avg_pool2d_input(dy, x.shape, **kw)},
            lambda x: batched(ref.avg_pool2d)(x, *ref_args), reference_grads,
            lambda x: F.avg_pool2d(x, **kw))
    check_op(op, {"x": rng.standard_normal(cfg["shape"])}, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kernel,ceil_mode,include,divisor", [
    ((2, 2), False, True, None), ((2, 2), True, False, None), ((3, 2), True, True, None),
    ((1, 3), False, False, 2), ((4, 4), True, False, None), ((2, 1), True, True, 3)])
def test_avg_pool2d_tiling_windows(kernel, ceil_mode, include, divisor, dtype, isa, rng):
    """Windows that tile the input (stride = kernel, no padding): the gradient is written once per
    element, clipped windows at odd edges included."""
    kw = dict(kernel_size=kernel, stride=kernel, ceil_mode=ceil_mode, count_include_pad=include,
              divisor_override=divisor)
    ref_args = (kernel, kernel, (0, 0), ceil_mode, include, divisor)
    op = Op(lambda x: fastseg.avg_pool2d(x, **kw),
            lambda dy, x: {"x": fastseg.grad.avg_pool2d_input(dy, x.shape, **kw)},
            lambda x: ref.avg_pool2d(x, *ref_args),
            lambda dy, x: {"x": ref.avg_pool2d_grad(dy, x.shape, *ref_args)},
            lambda x: F.avg_pool2d(x, **kw))
    check_op(op, {"x": rng.standard_normal((2, 3, 13, 71))}, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("factors", [(2, 2), (3, 1), (1, 2), (2, 3)])
def test_interpolate_nearest_whole_factors(factors, dtype, isa, rng):
    """Upsampling by whole factors: the forward copies, the gradient sums each block."""
    scales = tuple(float(f) for f in factors)
    op = Op(lambda x: fastseg.interpolate(x, scale_factor=scales),
            lambda dy, x: {"x": fastseg.grad.interpolate_input(dy, x.shape, scale_factor=scales)},
            lambda x: ref.interpolate(x, (7 * factors[0], 37 * factors[1]), "nearest", False, scales, dtype),
            lambda dy, x: {"x": ref.interpolate_grad(dy, (7, 37), "nearest", False, scales, dtype)},
            lambda x: F.interpolate(x, scale_factor=scales))
    check_op(op, {"x": rng.standard_normal((2, 3, 7, 37))}, dtype, rng)


def random_interp_config(rng):
    while True:
        shape = (int(rng.choice([0, 1, 2])), int(rng.integers(1, 4)), int(rng.integers(1, 12)),
                 int(rng.integers(1, 50)))
        mode = str(rng.choice(["nearest", "bilinear"]))
        align_corners = None if mode == "nearest" else [None, True, False][int(rng.integers(3))]
        if rng.random() < 0.5:
            size = (int(rng.integers(1, 25)), int(rng.integers(1, 130)))
            scale_factor, out = None, size
        else:
            choices = [2, 2.0, 0.5, 1.5, 3, 1.0, 0.3, 2.04, 1.1, (1.7, 2.5), (2, 0.75)]
            scale_factor = choices[int(rng.integers(len(choices)))]
            s = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * 2
            size = None
            out = tuple(int(np.floor(n * f)) for n, f in zip(shape[2:], s))
        if min(out) >= 1:
            return dict(shape=shape, mode=mode, align_corners=align_corners, size=size,
                        scale_factor=scale_factor, out=out)


def interp_kwargs(cfg):
    return dict(size=cfg["size"], scale_factor=cfg["scale_factor"], mode=cfg["mode"],
                align_corners=cfg["align_corners"])


def torch_nearest_agrees(cfg):
    """PyTorch computes nearest source indices in the input's precision (its generic CPU kernel)
    or in float32 with shortcuts for out == in and out == 2*in (its kernel for outputs with
    H + W <= 128, and every backward). Compare with it only where all of these agree."""
    scales = cfg["scale_factor"] if isinstance(cfg["scale_factor"], tuple) else (cfg["scale_factor"],) * 2
    for n, o, s in zip(cfg["shape"][2:], cfg["out"], scales):
        tables = [ref.nearest_index(n, o, s, t) for t in (np.float32, np.float64)]
        shortcut = np.arange(o) if o == n else np.arange(o) // 2 if o == 2 * n else tables[0]
        if not all(np.array_equal(t, shortcut) for t in tables):
            return False
    return True


INTERP_CONFIGS = [random_interp_config(np.random.default_rng(200 + seed)) for seed in range(40)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", INTERP_CONFIGS, ids=[f"cfg{i}" for i in range(len(INTERP_CONFIGS))])
def test_interpolate_sweep(cfg, dtype, isa, rng):
    kw = interp_kwargs(cfg)
    scales = cfg["scale_factor"] if isinstance(cfg["scale_factor"], tuple) else (cfg["scale_factor"],) * 2
    ref_args = (cfg["mode"], bool(cfg["align_corners"]), scales, dtype)
    use_torch = cfg["mode"] == "bilinear" or torch_nearest_agrees(cfg)
    op = Op(lambda x: fastseg.interpolate(x, **kw),
            lambda dy, x: {"x": fastseg.grad.interpolate_input(
                dy, x.shape, cfg["mode"], cfg["align_corners"], cfg["scale_factor"])},
            lambda x: ref.interpolate(x, cfg["out"], *ref_args),
            lambda dy, x: {"x": ref.interpolate_grad(dy, x.shape[2:], *ref_args)},
            (lambda x: F.interpolate(x, **kw)) if use_torch else None)
    check_op(op, {"x": rng.standard_normal(cfg["shape"])}, dtype, rng)


def test_interpolate_nearest_uses_the_generic_formula(isa):
    """A scale factor that gives out == 2*in without being 2: floor(dst / 2.04), as PyTorch's
    generic CPU kernel (large outputs); its small-output kernel would give dst // 2."""
    x = np.arange(20, dtype=np.float32).reshape(1, 1, 1, 20)
    y = fastseg.interpolate(x, scale_factor=(1, 2.04))
    assert y.shape == (1, 1, 1, 40)
    np.testing.assert_array_equal(y[0, 0, 0], np.floor(np.arange(40) * np.float32(1 / 2.04)))
    if torch is not None:  # the generic kernel runs for H_out + W_out > 128
        x = np.tile(x, (1, 1, 200, 1))
        y_t = F.interpolate(torch.from_numpy(x), scale_factor=(1, 2.04)).numpy()
        assert np.array_equal(fastseg.interpolate(x, scale_factor=(1, 2.04)), y_t)


def separated_values(shape, rng):
    """Distinct values at least 0.01 apart: finite differences of max pooling see no ties."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.01 + rng.uniform(0, 0.001, shape)


@pytest.mark.parametrize("cfg", POOL_CONFIGS[:6] + AVG_CONFIGS[:6], ids=[f"cfg{i}" for i in range(12)])
def test_finite_differences(cfg, isa, rng):
    if 0 in cfg["shape"]:
        cfg = dict(cfg, shape=(2,) + cfg["shape"][1:])
    x = separated_values(cfg["shape"], rng)
    kw = max_args(cfg)

    def max_grads(dy, x):
        _, indices = fastseg.max_pool2d(x, return_indices=True, **kw)
        return {"x": fastseg.grad.max_pool2d_input(dy, indices, x.shape)}

    check_finite_differences(lambda x: fastseg.max_pool2d(x, **kw), max_grads, {"x": x}, rng)
    if cfg["dilation"] == (1, 1):
        akw = avg_args(cfg, 0.2)
        check_finite_differences(lambda x: fastseg.avg_pool2d(x, **akw),
                                 lambda dy, x: {"x": fastseg.grad.avg_pool2d_input(dy, x.shape, **akw)},
                                 {"x": x}, rng)
        _, indices = fastseg.max_pool2d(x, return_indices=True, **dict(kw, dilation=1))
        if has_repeats(indices):  # the gradient is PyTorch's gather, not the derivative, then
            return
        ukw, output_size = unpool_config(cfg)
        check_finite_differences(
            lambda v: fastseg.max_unpool2d(v, indices, output_size=output_size, **ukw),
            lambda dy, v: {"v": fastseg.grad.max_unpool2d_input(dy, indices)},
            {"v": rng.standard_normal(indices.shape)}, rng)


@pytest.mark.parametrize("cfg", INTERP_CONFIGS[:10], ids=[f"cfg{i}" for i in range(10)])
def test_interpolate_finite_differences(cfg, isa, rng):
    kw = interp_kwargs(cfg)
    check_finite_differences(
        lambda x: fastseg.interpolate(x, **kw),
        lambda dy, x: {"x": fastseg.grad.interpolate_input(dy, x.shape, cfg["mode"],
                                                          cfg["align_corners"], cfg["scale_factor"])},
        {"x": rng.standard_normal((2,) + cfg["shape"][1:])}, rng)


def all_ops(x, dy_pool, dy_up, dy_avg):
    y, indices = fastseg.max_pool2d(x, 3, 2, 1, return_indices=True)
    y2, indices2 = fastseg.max_pool2d(x, 2, return_indices=True)  # the 2x2 and block kernels
    return (y2, indices2, fastseg.max_unpool2d(y2, indices2, 2, output_size=x.shape[2:]),
            fastseg.grad.max_pool2d_input(y2, indices2, x.shape),
            fastseg.grad.max_unpool2d_input(x, indices2),
            fastseg.avg_pool2d(x, 2), fastseg.grad.avg_pool2d_input(y2, x.shape, 2),
            y, indices, fastseg.grad.max_pool2d_input(dy_pool, indices, x.shape),
            fastseg.max_unpool2d(y, indices, 3, 2, 1, output_size=x.shape[2:]),
            fastseg.grad.max_unpool2d_input(x, indices),
            fastseg.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
            fastseg.grad.avg_pool2d_input(dy_avg, x.shape, 3, 2, 1, ceil_mode=True,
                                          count_include_pad=False),
            fastseg.interpolate(x, scale_factor=1.7, mode="bilinear"),
            fastseg.grad.interpolate_input(dy_up, x.shape, "bilinear", None, 1.7),
            fastseg.interpolate(x, size=(300, 500)),
            fastseg.grad.interpolate_input(dy_up, x.shape))


def test_results_do_not_depend_on_thread_count(isa, rng):
    """Large enough for every op to split its work over several threads."""
    x = rng.standard_normal((4, 8, 256, 256)).astype(np.float32)
    dy_pool = rng.standard_normal((4, 8, 128, 128)).astype(np.float32)
    dy_avg = rng.standard_normal((4, 8, 129, 129)).astype(np.float32)
    dy_up = rng.standard_normal((4, 8, 435, 435)).astype(np.float32)
    assert_same_for_any_thread_count(lambda: all_ops(x, dy_pool, dy_up, dy_avg))


def test_inputs_of_any_layout_work_and_are_not_modified(rng):
    base = rng.standard_normal((2, 3, 12, 14)).astype(np.float32)
    x = np.asfortranarray(base)[:, :, ::-1]  # Fortran order, negative strides
    x.flags.writeable = False
    expected = all_ops(np.ascontiguousarray(x), *(np.ones(s, np.float32) for s in
                                                  [(2, 3, 6, 7), (2, 3, 20, 23), (2, 3, 7, 8)]))
    dys = [np.asfortranarray(np.ones(s, np.float32)) for s in [(2, 3, 6, 7), (2, 3, 20, 23), (2, 3, 7, 8)]]
    for d in dys:
        d.flags.writeable = False
    copies = [a.copy() for a in (x, *dys)]
    for a, b in zip(all_ops(x, *dys), expected):
        assert np.array_equal(a, b)
    for a, c in zip((x, *dys), copies):
        assert np.array_equal(a, c)
    # Indices in another integer dtype, non-contiguous and read-only.
    y, indices = fastseg.max_pool2d(base, 2, return_indices=True)
    odd = np.asfortranarray(indices.astype(np.int32))
    odd.flags.writeable = False
    assert np.array_equal(fastseg.max_unpool2d(y, odd, 2), fastseg.max_unpool2d(y, indices, 2))
    assert np.array_equal(fastseg.grad.max_pool2d_input(y, odd, base.shape),
                          fastseg.grad.max_pool2d_input(y, indices, base.shape))
    assert odd.dtype == np.int32


def test_unbatched_and_zero_batch(rng):
    x = rng.standard_normal((3, 9, 10))
    y, indices = fastseg.max_pool2d(x, 2, return_indices=True)
    y4, indices4 = fastseg.max_pool2d(x[None], 2, return_indices=True)
    assert np.array_equal(y, y4[0]) and np.array_equal(indices, indices4[0])
    assert np.array_equal(fastseg.max_unpool2d(y, indices, 2), fastseg.max_unpool2d(y4, indices4, 2)[0])
    assert np.array_equal(fastseg.grad.max_pool2d_input(y, indices, x.shape),
                          fastseg.grad.max_pool2d_input(y4, indices4, (1,) + x.shape)[0])
    assert np.array_equal(fastseg.grad.max_unpool2d_input(x[:, :8], indices),
                          fastseg.grad.max_unpool2d_input(x[None, :, :8], indices4)[0])
    assert np.array_equal(fastseg.avg_pool2d(x, 3, 1, 1), fastseg.avg_pool2d(x[None], 3, 1, 1)[0])
    assert np.array_equal(fastseg.grad.avg_pool2d_input(x, x.shape, 3, 1, 1),
                          fastseg.grad.avg_pool2d_input(x[None], (1,) + x.shape, 3, 1, 1)[0])
    empty = np.zeros((0, 3, 9, 10))
    y0, i0 = fastseg.max_pool2d(empty, 2, return_indices=True)
    assert y0.shape == i0.shape == (0, 3, 4, 5)
    assert fastseg.max_unpool2d(y0, i0, 2).shape == (0, 3, 8, 10)
    assert fastseg.grad.max_pool2d_input(y0, i0, empty.shape).shape == empty.shape
    assert fastseg.grad.max_unpool2d_input(empty[:, :, :8], i0).shape == (0, 3, 4, 5)
    assert fastseg.avg_pool2d(empty, 2).shape == (0, 3, 4, 5)
    assert fastseg.grad.avg_pool2d_input(y0, empty.shape, 2).shape == empty.shape
    assert fastseg.interpolate(empty, scale_factor=2).shape == (0, 3, 18, 20)
    assert fastseg.grad.interpolate_input(np.zeros((0, 3, 18, 20)), empty.shape).shape == empty.shape


X = np.zeros((2, 3, 8, 8), np.float32)
Y, IDX = fastseg.max_pool2d(X, 2, return_indices=True)


@pytest.mark.parametrize("call,error,match", [
    (lambda: fastseg.max_pool2d(X[0, 0], 2), ValueError, r"input: expected a 3 or 4-D array, got shape \(8, 8\)"),
    (lambda: fastseg.max_pool2d(X.astype(np.int64), 2), TypeError, "input: expected dtype float32 or float64, got int64"),
    (lambda: fastseg.max_pool2d(X[:, :0], 2), ValueError, r"input: expected non-zero channel and spatial sizes, got shape \(2, 0, 8, 8\)"),
    (lambda: fastseg.max_pool2d(X, 0), ValueError, "kernel_size: expected an int >= 1, got 0"),
    (lambda: fastseg.max_pool2d(X, (2, 2, 2)), ValueError, "kernel_size: expected 2 values, got 3"),
    (lambda: fastseg.max_pool2d(X, 2.5), TypeError, "kernel_size: expected an int, got float"),
    (lambda: fastseg.max_pool2d(X, 2, stride=0), ValueError, "stride: expected an int >= 1, got 0"),
    (lambda: fastseg.max_pool2d(X, 2, padding=-1), ValueError, "padding: expected an int >= 0, got -1"),
    (lambda: fastseg.max_pool2d(X, 3, padding=2), ValueError, r"padding: expected at most half of kernel_size \(3, 3\) in each dimension, got \(2, 2\)"),
    (lambda: fastseg.max_pool2d(X, (4, 3), padding=(2, 2)), ValueError, r"padding: expected at most half of kernel_size \(4, 3\)"),
    (lambda: fastseg.max_pool2d(X, 2, dilation=0), ValueError, "dilation: expected an int >= 1, got 0"),
    (lambda: fastseg.max_pool2d(X, 9), ValueError, r"input: spatial size \(8, 8\) is too small for kernel_size \(9, 9\), stride \(9, 9\), padding \(0, 0\) and dilation \(1, 1\) \(output size \(0, 0\)\)"),
    (lambda: fastseg.max_pool2d(X[:, :, :2], 2, 1, 1, dilation=3), ValueError, r"dilation: the window of output row 0 holds no input element \(dilation \(3, 3\), padding \(1, 1\), input size \(2, 8\)\)"),
    (lambda: fastseg.max_pool2d(X, 2, ceil_mode=1), TypeError, "ceil_mode: expected a bool, got int"),
    (lambda: fastseg.max_pool2d(X, 2, return_indices="yes"), TypeError, "return_indices: expected a bool, got str"),
    (lambda: fastseg.max_unpool2d(Y, IDX[:1], 2), ValueError, r"indices: expected shape \(2, 3, 4, 4\) \(the shape of input\), got \(1, 3, 4, 4\)"),
    (lambda: fastseg.max_unpool2d(Y, IDX.astype(np.float64), 2), TypeError, "indices: expected an integer .int64. array, got dtype float64"),
    (lambda: fastseg.max_unpool2d(Y, IDX, 2, output_size=(8, 8, 8)), ValueError, r"output_size: expected 2 \(or 4, of which the last 2 are used\) ints, got \(8, 8, 8\)"),
    (lambda: fastseg.max_unpool2d(Y, IDX, 2, output_size=(10, 8)), ValueError, r"output_size: expected dim 0 strictly between 6 and 10, got \(10, 8\)"),
    (lambda: fastseg.max_unpool2d(Y, IDX, 2, output_size=(8, 0)), ValueError, "output_size: expected an int >= 1, got 0"),
    (lambda: fastseg.max_unpool2d(Y[:, :, :1, :1], IDX[:, :, :1, :1], 1, 1, 1), ValueError, r"input: the default output size \(-1, -1\)"),
    (lambda: fastseg.max_unpool2d(Y[0, 0], IDX[0, 0], 2), ValueError, r"input: expected a 3 or 4-D array, got shape \(4, 4\)"),
    (lambda: fastseg.avg_pool2d(X, 2, divisor_override=0), ValueError, "divisor_override: expected a non-zero int, got 0"),
    (lambda: fastseg.avg_pool2d(X, 2, divisor_override=1.5), TypeError, "divisor_override: expected an int, got float"),
    (lambda: fastseg.avg_pool2d(X, 2, count_include_pad=None), TypeError, "count_include_pad: expected a bool, got NoneType"),
    (lambda: fastseg.avg_pool2d(X, 3, padding=2), ValueError, "padding: expected at most half of kernel_size"),
    (lambda: fastseg.interpolate(X), ValueError, "size, scale_factor: expected exactly one of them, got neither"),
    (lambda: fastseg.interpolate(X, size=4, scale_factor=2), ValueError, "size, scale_factor: expected exactly one of them, got both"),
    (lambda: fastseg.interpolate(X, size=4, align_corners=True), ValueError, "align_corners: only valid with mode='bilinear', got True with mode='nearest'"),
    (lambda: fastseg.interpolate(X, size=4, mode="bicubic"), ValueError, "mode: expected 'nearest' or 'bilinear', got 'bicubic'"),
    (lambda: fastseg.interpolate(X, size=0), ValueError, "size: expected an int >= 1, got 0"),
    (lambda: fastseg.interpolate(X, size=(3, 4, 5)), ValueError, "size: expected 2 values, got 3"),
    (lambda: fastseg.interpolate(X, scale_factor=-1.0), ValueError, r"scale_factor: expected finite numbers > 0, got -1.0"),
    (lambda: fastseg.interpolate(X, scale_factor=float("nan")), ValueError, "scale_factor: expected finite numbers > 0"),
    (lambda: fastseg.interpolate(X, scale_factor=(2, 2, 2)), ValueError, r"scale_factor: expected a number or 2 numbers, got \(2, 2, 2\)"),
    (lambda: fastseg.interpolate(X, scale_factor="2"), TypeError, "scale_factor: expected a number, got str"),
    (lambda: fastseg.interpolate(X, scale_factor=0.1), ValueError, r"scale_factor: input size \(8, 8\) scaled by \(0.1, 0.1\) gives output size \(0, 0\), expected sizes >= 1"),
    (lambda: fastseg.interpolate(X[0], scale_factor=2), ValueError, r"input: expected a 4-D array, got shape \(3, 8, 8\)"),
    (lambda: fastseg.interpolate(X, size=4, mode="bilinear", align_corners=1), TypeError, "align_corners: expected a bool, got int"),
    (lambda: fastseg.grad.max_pool2d_input(Y, IDX, (2, 3, 8)), ValueError, r"indices: expected shape \(2, P, Q\) \(the batch and channels of input_size\), got \(2, 3, 4, 4\)"),
    (lambda: fastseg.grad.max_pool2d_input(Y[:, :, :3], IDX, X.shape), ValueError, r"grad_output: expected shape \(2, 3, 4, 4\), got \(2, 3, 3, 4\)"),
    (lambda: fastseg.grad.max_pool2d_input(Y, IDX, (2, 3, 8, 8, 1)), ValueError, "input_size: expected a shape of 4 ints"),
    (lambda: fastseg.grad.max_unpool2d_input(X, IDX[:1]), ValueError, r"indices: expected shape \(..., h, w\) with the batch and channels of grad_output \(2, 3, 8, 8\), got \(1, 3, 4, 4\)"),
    (lambda: fastseg.grad.max_unpool2d_input(X.astype(np.int32), IDX), TypeError, "grad_output: expected dtype float32 or float64, got int32"),
    (lambda: fastseg.grad.avg_pool2d_input(Y[:, :, :3], X.shape, 2), ValueError, r"grad_output: expected shape \(2, 3, 4, 4\), got \(2, 3, 3, 4\)"),
    (lambda: fastseg.grad.avg_pool2d_input(Y, (2, 3, 0, 8), 2), ValueError, r"input_size: expected non-zero channel and spatial sizes, got shape \(2, 3, 0, 8\)"),
    (lambda: fastseg.grad.interpolate_input(Y, (2, 4, 2, 2)), ValueError, r"grad_output: expected shape \(2, 4, H_out, W_out\) with H_out, W_out >= 1, got \(2, 3, 4, 4\)"),
    (lambda: fastseg.grad.interpolate_input(Y, (2, 3, 2, 2), scale_factor=3), ValueError, r"grad_output: expected spatial size \(6, 6\) \(input_size scaled by scale_factor \(3.0, 3.0\)\), got \(4, 4\)"),
    (lambda: fastseg.grad.interpolate_input(Y, (2, 3, 2)), ValueError, "input_size: expected a shape of 4 ints"),
])
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()
