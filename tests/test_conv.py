"""conv1d / conv2d and their gradients against float64 references, on every ISA path."""

import numpy as np
import pytest

import fastseg
import reference as ref
from helpers import (Op, assert_close, assert_same_for_any_thread_count, check_finite_differences,
                     check_op, torch)

MODES = ("zeros", "reflect", "replicate", "circular", "symmetric")


def pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def pads_of(padding, kernel, dilation):
    """(top, left, bottom, right) as PyTorch derives them."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return (total[0] // 2, total[1] // 2, total[0] - total[0] // 2, total[1] - total[1] // 2)
    p = pair(padding)
    return (p[0], p[1], p[0], p[1])


def random_config(rng):
    """A random valid conv2d configuration, odd sizes and extreme arguments included."""
    while True:
        groups = int(rng.choice([1, 1, 2, 3]))
        cg, kg = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        if rng.random() < 0.15:  # depthwise
            groups, cg, kg = int(rng.integers(1, 6)), 1, 1
        kernel = (int(rng.integers(1, 12)), int(rng.integers(1, 12)))
        if rng.random() < 0.5:
            kernel = (kernel[0] % 4 + 1, kernel[1] % 4 + 1)
        dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        stride = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        mode = str(rng.choice(MODES))
        padding = rng.choice(["int", "pair", "same", "valid"])
        if padding == "same":
            stride = (1, 1)
        elif padding == "int":
            padding = int(rng.integers(0, 4))
        elif padding == "pair":
            padding = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
        size = (int(rng.integers(1, 24)), int(rng.integers(1, 40)))
        pads = pads_of(padding, kernel, dilation)
        if mode == "reflect" and max(pads[0], pads[2]) >= size[0] or max(pads[1], pads[3]) >= size[1]:
            continue
        if mode in ("circular", "symmetric") and (max(pads[0], pads[2]) > size[0]
                                                 or max(pads[1], pads[3]) > size[1]):
            continue
        span = [s + pads[i] + pads[i + 2] - d * (k - 1) - 1
                for i, (s, d, k) in enumerate(zip(size, dilation, kernel))]
        if min(span) < 0:
            continue
        batch = int(rng.choice([0, 1, 1, 3]))
        return dict(x_shape=(batch, cg * groups, *size), w_shape=(kg * groups, cg, *kernel),
                    stride=stride, padding=padding, dilation=dilation, groups=groups, mode=mode,
                    pads=pads)


def conv2d_op(cfg, bias=True):
    args = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
                groups=cfg["groups"], padding_mode=cfg["mode"])
    ref_args = dict(stride=cfg["stride"], pads=cfg["pads"], dilation=cfg["dilation"],
                    groups=cfg["groups"], mode=cfg["mode"])

    def forward(x, w, b=None):
        return fastseg.conv2d(x, w, b, **args)

    def grads(dy, x, w, b=None):
        out = {"x": fastseg.grad.conv2d_input(x.shape, w, dy, **args),
               "w": fastseg.grad.conv2d_weight(x, w.shape, dy, **args)}
        if b is not None:
            out["b"] = fastseg.grad.conv2d_bias(dy)
        return out

    def reference_grads(dy, x, w, b=None):
        dx, dw, db = ref.conv2d_grads(x, w, dy, **ref_args)
        return dict(x=dx, w=dw, **({"b": db} if b is not None else {}))

    def torch_forward(x, w, b=None):
        F = torch.nn.functional
        if cfg["mode"] == "symmetric":
            return None
        if cfg["mode"] == "zeros":
            return F.conv2d(x, w, b, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
        top, left, bottom, right = cfg["pads"]
        xp = F.pad(x, (left, right, top, bottom), mode=cfg["mode"])
        return F.conv2d(xp, w, b, cfg["stride"], 0, cfg["dilation"], cfg["groups"])

    return Op(forward, grads, lambda x, w, b=None: ref.conv2d(x, w, b, **ref_args),
              reference_grads, torch_forward if cfg["mode"] != "symmetric" else None)


CONFIGS = [random_config(np.random.default_rng(seed)) for seed in range(48)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv2d_sweep(cfg, dtype, isa, rng):
    inputs = dict(x=rng.standard_normal(cfg["x_shape"]), w=rng.standard_normal(cfg["w_shape"]),
                  b=rng.standard_normal(cfg["w_shape"][0]))
    check_op(conv2d_op(cfg), inputs, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 16, 40, 64, 32), (2, 64, 17, 33, 20), (1, 3, 70, 130, 8)])
def test_conv2d_unet_like(shape, dtype, isa, rng):
    """Sizes that exercise full register tiles, several row tiles and channel blocks."""
    n, c, h, w, k = shape
    cfg = dict(x_shape=(n, c, h, w), w_shape=(k, c, 3, 3), stride=(1, 1), padding=1,
               dilation=(1, 1), groups=1, mode="zeros", pads=(1, 1, 1, 1))
    inputs = dict(x=rng.standard_normal(cfg["x_shape"]), w=rng.standard_normal(cfg["w_shape"]),
                  b=rng.standard_normal(k))
    check_op(conv2d_op(cfg), inputs, dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,c,h,w,k,stride,dilation,groups,mode", [
    (2, 40, 8, 8, 72, 1, 1, 1, "zeros"),      # short rows, many output channels, a channel tail
    (1, 24, 5, 7, 40, 1, 2, 1, "reflect"),
    (3, 32, 9, 11, 96, 2, 1, 2, "replicate"),
    (1, 8, 6, 3, 200, 1, 1, 1, "symmetric"),
    (2, 16, 4, 4, 24, 2, 1, 1, "zeros"),
])
def test_conv2d_short_rows_many_channels(n, c, h, w, k, stride, dilation, groups, mode, dtype, isa,
                                         rng):
    """Layers whose output rows are shorter than a vector take lanes along output channels."""
    pad = dilation
    cfg = dict(x_shape=(n, c, h, w), w_shape=(k, c // groups, 3, 3), stride=(stride, stride),
               padding=pad, dilation=(dilation, dilation), groups=groups, mode=mode,
               pads=(pad, pad, pad, pad))
    inputs = dict(x=rng.standard_normal(cfg["x_shape"]), w=rng.standard_normal(cfg["w_shape"]),
                  b=rng.standard_normal(k))
    check_op(conv2d_op(cfg), inputs, dtype, rng)


def conv1d_reference(x, w, b, stride, padding, dilation, groups, mode):
    pads = pads_of(padding if isinstance(padding, str) else (0, padding), (1, w.shape[-1]),
                   (1, dilation))
    return ref.conv2d(x[:, :, None], w[:, :, None], b, (1, stride), pads, (1, dilation), groups,
                      mode)[:, :, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(12))
def test_conv1d_sweep(seed, dtype, isa):
    rng = np.random.default_rng(1000 + seed)
    cfg = random_config(rng)
    n, c, _, length = cfg["x_shape"]
    k, cg, _, kernel = cfg["w_shape"]
    stride, dilation, mode = cfg["stride"][1], cfg["dilation"][1], cfg["mode"]
    padding = cfg["padding"] if isinstance(cfg["padding"], str) else pair(cfg["padding"])[1]
    if padding == "same":
        stride = 1
    pads = pads_of(padding if isinstance(padding, str) else (0, padding), (1, kernel), (1, dilation))
    if (mode == "reflect" and max(pads) >= length) or length + pads[1] + pads[3] < dilation * (kernel - 1) + 1:
        pytest.skip("configuration invalid in 1-D")
    args = dict(stride=stride, padding=padding, dilation=dilation, groups=cfg["groups"],
                padding_mode=mode)

    def grads(dy, x, w, b):
        return {"x": fastseg.grad.conv1d_input(x.shape, w, dy, **args),
                "w": fastseg.grad.conv1d_weight(x, w.shape, dy, **args),
                "b": fastseg.grad.conv1d_bias(dy)}

    def reference_grads(dy, x, w, b):
        dx, dw, db = ref.conv2d_grads(x[:, :, None], w[:, :, None], dy[:, :, None], (1, stride),
                                      pads, (1, dilation), cfg["groups"], mode)
        return {"x": dx[:, :, 0], "w": dw[:, :, 0], "b": db}

    op = Op(lambda x, w, b: fastseg.conv1d(x, w, b, **args), grads,
            lambda x, w, b: conv1d_reference(x, w, b, stride, padding, dilation, cfg["groups"], mode),
            reference_grads,
            (lambda x, w, b: torch.nn.functional.conv1d(x, w, b, stride, padding, dilation,
                                                        cfg["groups"]))
            if mode == "zeros" else None)
    inputs = dict(x=rng.standard_normal((n, c, length)), w=rng.standard_normal((k, cg, kernel)),
                  b=rng.standard_normal(k))
    check_op(op, inputs, dtype, rng)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride,dilation,groups", [(1, 1, 1), (2, 1, 2), (3, 2, 1), ((1, 2), (2, 1), 3)])
def test_conv2d_finite_differences(mode, stride, dilation, groups, isa, rng):
    x = rng.standard_normal((2, 3 * groups, 9, 11))
    w = rng.standard_normal((2 * groups, 3, 3, 2))
    b = rng.standard_normal(2 * groups)
    args = dict(stride=stride, padding=(2, 1), dilation=dilation, groups=groups, padding_mode=mode)

    def forward(x, w, b):
        return fastseg.conv2d(x, w, b, **args)

    def grads(dy, x, w, b):
        return {"x": fastseg.grad.conv2d_input(x.shape, w, dy, **args),
                "w": fastseg.grad.conv2d_weight(x, w.shape, dy, **args),
                "b": fastseg.grad.conv2d_bias(dy)}

    check_finite_differences(forward, grads, dict(x=x, w=w, b=b), rng)


def test_same_padding_even_kernel_matches_torch_rule(rng):
    """'same' with an even kernel pads one more at the bottom/right, as PyTorch does."""
    x = rng.standard_normal((1, 2, 7, 8))
    w = rng.standard_normal((3, 2, 4, 2))
    y = fastseg.conv2d(x, w, padding="same", dilation=(1, 2))
    assert y.shape == (1, 3, 7, 8)
    assert_close(y, ref.conv2d(x, w, pads=(1, 1, 2, 1), dilation=(1, 2)), 1e-12)


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((3, 8, 37, 45)).astype(np.float32)
    w = rng.standard_normal((12, 4, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((3, 12, 19, 23)).astype(np.float32)
    args = dict(stride=2, padding=1, groups=2, padding_mode="reflect")
    assert_same_for_any_thread_count(lambda: (
        fastseg.conv2d(x, w, **args), fastseg.grad.conv2d_input(x.shape, w, dy, **args),
        fastseg.grad.conv2d_weight(x, w.shape, dy, **args), fastseg.grad.conv2d_bias(dy)))


def test_inputs_of_any_layout_work_and_are_not_modified(rng):
    x = np.asfortranarray(rng.standard_normal((2, 3, 10, 12)).astype(np.float32))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)[:, :, ::-1, :]  # negative strides
    b = rng.standard_normal(8).astype(np.float32)[::2]
    x.flags.writeable = False
    copies = [a.copy() for a in (x, w, b)]
    y = fastseg.conv2d(x, w, b, padding=1)
    expected = ref.conv2d(x, w, b, pads=(1, 1, 1, 1))
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    for a, c in zip((x, w, b), copies):
        assert np.array_equal(a, c)


def test_unbatched_and_zero_batch(rng):
    x = rng.standard_normal((3, 9, 9))
    w = rng.standard_normal((5, 3, 3, 3))
    y = fastseg.conv2d(x, w, padding=1)
    assert_close(y, ref.conv2d(x[None], w, pads=(1, 1, 1, 1))[0], 1e-12)
    empty = fastseg.conv2d(np.zeros((0, 3, 9, 9)), w, padding=1)
    assert empty.shape == (0, 5, 9, 9)
    assert fastseg.grad.conv2d_input((0, 3, 9, 9), w, empty, padding=1).shape == (0, 3, 9, 9)
    assert np.array_equal(fastseg.grad.conv2d_weight(np.zeros((0, 3, 9, 9)), w.shape, empty, padding=1),
                          np.zeros(w.shape))
    assert fastseg.conv1d(rng.standard_normal((2, 7)), rng.standard_normal((3, 2, 3))).shape == (3, 5)


def test_out_argument(rng):
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    out = np.full((1, 3, 4, 4), np.nan, np.float32)
    assert fastseg.conv2d(x, w, out=out) is out
    np.testing.assert_allclose(out, ref.conv2d(x, w), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="out: expected shape"):
        fastseg.conv2d(x, w, out=np.empty((1, 3, 4, 5), np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        fastseg.conv2d(x, w, out=np.empty((1, 3, 4, 4)))
    with pytest.raises(ValueError, match="out: must not overlap"):
        big = np.zeros((1, 3, 6, 6), np.float32)
        fastseg.conv2d(big[:, :2], w, padding=1, out=big[:, :3][:1])
    with pytest.raises(ValueError, match="writeable"):
        ro = np.empty((1, 3, 4, 4), np.float32)
        ro.flags.writeable = False
        fastseg.conv2d(x, w, out=ro)


X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 4, 3, 3), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: fastseg.conv2d(X[0, 0], W), ValueError, r"input: expected a 3 or 4-D array, got shape \(8, 8\)"),
    (lambda: fastseg.conv2d(X, W[0]), ValueError, "weight: expected a 4-D array"),
    (lambda: fastseg.conv2d(X, W[:, :3]), ValueError, "weight: expected 4 input channels per group"),
    (lambda: fastseg.conv2d(X, W, groups=3), ValueError, r"groups: input channels \(4\) .* divisible by groups \(3\)"),
    (lambda: fastseg.conv2d(X, W, groups=0), ValueError, "groups: expected an int >= 1, got 0"),
    (lambda: fastseg.conv2d(X, W, stride=0), ValueError, "stride: expected an int >= 1, got 0"),
    (lambda: fastseg.conv2d(X, W, stride=(1, -2)), ValueError, "stride: expected an int >= 1, got -2"),
    (lambda: fastseg.conv2d(X, W, dilation=0), ValueError, "dilation: expected an int >= 1, got 0"),
    (lambda: fastseg.conv2d(X, W, padding=-1), ValueError, "padding: expected an int >= 0, got -1"),
    (lambda: fastseg.conv2d(X, W, padding=(1, 2, 3)), ValueError, "padding: expected 2 values, got 3"),
    (lambda: fastseg.conv2d(X, W, padding="full"), ValueError, "padding: expected 'same', 'valid'"),
    (lambda: fastseg.conv2d(X, W, padding="same", stride=2), ValueError, "padding='same' needs stride 1"),
    (lambda: fastseg.conv2d(X, W, padding_mode="mirror"), ValueError, "padding_mode: expected one of"),
    (lambda: fastseg.conv2d(X, W, padding=8, padding_mode="reflect"), ValueError, "reflect padding must be smaller than"),
    (lambda: fastseg.conv2d(X[:, :, :2, :2], W), ValueError, "smaller than the dilated kernel"),
    (lambda: fastseg.conv2d(X, W, dilation=4), ValueError, "smaller than the dilated kernel"),
    (lambda: fastseg.conv2d(X.astype(np.int32), W), TypeError, "input: expected dtype float32 or float64, got int32"),
    (lambda: fastseg.conv2d(X, W.astype(np.float64)), TypeError, "weight: expected dtype float32 .the dtype of input., got float64"),
    (lambda: fastseg.conv2d(X, W, np.zeros(6)), TypeError, "bias: expected dtype float32"),
    (lambda: fastseg.conv2d(X, W, np.zeros(5, np.float32)), ValueError, r"bias: expected shape \(6,\)"),
    (lambda: fastseg.conv2d(X[:, :0], W[:, :0]), ValueError, "input: expected non-zero"),
    (lambda: fastseg.conv2d(X, W, stride=1.5), TypeError, "stride: expected an int, got float"),
    (lambda: fastseg.grad.conv2d_input(X.shape, W, np.zeros((2, 6, 7, 7), np.float32)), ValueError, r"grad_output: expected shape \(2, 6, 6, 6\)"),
    (lambda: fastseg.grad.conv2d_input((2, 4, 8), W, np.zeros((2, 6, 6, 6), np.float32)), ValueError, "input_size: expected a shape of 4 ints"),
    (lambda: fastseg.grad.conv2d_weight(X, (6, 4, 3), np.zeros((2, 6, 6, 6), np.float32)), ValueError, "weight_size: expected a shape of 4 ints"),
    (lambda: fastseg.grad.conv2d_weight(X, W.shape, np.zeros((2, 6, 6, 6))), TypeError, "grad_output: expected dtype float32"),
])
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 5, 9, 7, 2, 1), (1, 70, 9, 12, 33, 2, 1),
                                   (1, 10, 13, 8, 2, 3, 2), (2, 6, 4, 1, 9, 1, 2),
                                   (1, 5, 3, 120, 3, 2, 1)])
def test_conv2d_patches(shape, dtype, isa, rng):
    """Kernel (R, 2) at its own stride (the patch path): odd sizes leave the last row or column
    unread; 70 * 2 * 2 = 280 patch rows span three panel blocks; 1-pixel rows (60 of them)."""
    n, c, k, h, w, r, groups = shape
    cfg = dict(x_shape=(n, c * groups, h, w), w_shape=(k * groups, c, r, 2), stride=(r, 2),
               padding=0, dilation=(1, 1), groups=groups, mode="zeros", pads=(0, 0, 0, 0))
    inputs = dict(x=rng.standard_normal(cfg["x_shape"]), w=rng.standard_normal(cfg["w_shape"]),
                  b=rng.standard_normal(cfg["w_shape"][0]))
    check_op(conv2d_op(cfg), inputs, dtype, rng)


def test_conv2d_relu_on_the_patch_path(isa, rng):
    """The ReLU applies once, after the last panel block has been added."""
    x = rng.standard_normal((1, 70, 12, 33)).astype(np.float32)
    wt = rng.standard_normal((9, 70, 2, 2)).astype(np.float32)
    b = rng.standard_normal(9).astype(np.float32)
    y = fastseg.ops.conv.conv2d_relu(x, wt, b, stride=2)
    assert_close(y, np.maximum(ref.conv2d(x, wt, b, stride=(2, 2)), 0), 3e-5)


@pytest.mark.parametrize("shape,k,kernel,stride", [((1, 4, 9, 20), 5, 3, 1),
                                                   ((1, 24, 4, 4), 40, 3, 1),
                                                   ((1, 6, 8, 10), 5, 2, 2)])
def test_conv2d_relu_keeps_nan_as_torch_relu_does(shape, k, kernel, stride, isa, rng):
    """Row, channel-lane and patch tiles: relu(NaN) is NaN (max(0, x) with NaN kept)."""
    x = rng.standard_normal(shape).astype(np.float32)
    x[0, 0, 1, 2] = np.nan
    wt = rng.standard_normal((k, shape[1], kernel, kernel)).astype(np.float32)
    pad = kernel // 2 if stride == 1 else 0
    y = fastseg.ops.conv.conv2d_relu(x, wt, stride=stride, padding=pad)
    r = ref.conv2d(x, wt, stride=(stride, stride), pads=(pad,) * 4)
    assert np.isnan(r).any() and np.array_equal(np.isnan(y), np.isnan(r))
    assert_close(np.nan_to_num(y), np.maximum(np.nan_to_num(r), 0), 3e-5)


@pytest.mark.parametrize("shape", [(2, 8, 21, 37, 12), (2, 40, 8, 8, 72), (1, 24, 4, 4, 40)])
def test_conv2d_relu_fuses_the_relu_into_the_store(shape, isa, rng):
    """Row, flat-row and channel-lane paths all apply the fused ReLU (and nothing else)."""
    n, c, h, w, k = shape
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    wt = rng.standard_normal((k, c, 3, 3)).astype(np.float32)
    b = rng.standard_normal(k).astype(np.float32)
    y = fastseg.ops.conv.conv2d_relu(x, wt, b, padding=1)
    assert_close(y, np.maximum(ref.conv2d(x, wt, b, pads=(1, 1, 1, 1)), 0), 3e-5)
    assert (y >= 0).all()
