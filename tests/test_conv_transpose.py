"""conv_transpose1d / conv_transpose2d and their gradients against a float64 scatter reference and
PyTorch, on every ISA path."""

import numpy as np
import pytest

import fastseg
import reference as ref
from helpers import (TOLERANCE, Op, assert_close, assert_same_for_any_thread_count,
                     check_finite_differences, check_op, torch)


def random_config(rng):
    """A random valid conv_transpose2d configuration, odd sizes and extreme arguments included."""
    while True:
        groups = int(rng.choice([1, 1, 2, 3]))
        cig, cog = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        if rng.random() < 0.15:  # depthwise
            groups, cig, cog = int(rng.integers(1, 6)), 1, 1
        kernel = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        stride = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = (int(rng.integers(0, 5)), int(rng.integers(0, 5)))
        output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
        size = (int(rng.integers(1, 12)), int(rng.integers(1, 20)))
        out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
               for n, s, p, d, k, o in zip(size, stride, padding, dilation, kernel, output_padding)]
        if min(out) < 1:
            continue
        batch = int(rng.choice([0, 1, 1, 3]))
        return dict(x_shape=(batch, cig * groups, *size), w_shape=(cig * groups, cog, *kernel),
                    stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                    dilation=dilation)


def transpose_op(cfg, dims=2):
    """The op under test in `dims` dimensions; the 1-D op is compared as the 2-D op of height 1."""
    args = {k: cfg[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}
    if dims == 1:
        args = {k: v[1] if isinstance(v, tuple) else v for k, v in args.items()}
    fwd = {1: fastseg.conv_transpose1d, 2: fastseg.conv_transpose2d}[dims]
    grad_input = {1: fastseg.grad.conv_transpose1d_input, 2: fastseg.grad.conv_transpose2d_input}[dims]
    grad_weight = {1: fastseg.grad.conv_transpose1d_weight, 2: fastseg.grad.conv_transpose2d_weight}[dims]
    grad_bias = {1: fastseg.grad.conv_transpose1d_bias, 2: fastseg.grad.conv_transpose2d_bias}[dims]
    as2d = (lambda a: a) if dims == 2 else (lambda a: a[:, :, None])
    ref_args = {k: cfg[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}

    def forward(x, w, b=None):
        return fwd(x, w, b, **args)

    def grads(dy, x, w, b=None):
        out = {"x": grad_input(dy, w, **args), "w": grad_weight(x, w.shape, dy, **args)}
        if b is not None:
            out["b"] = grad_bias(dy)
        return out

    def reference(x, w, b=None):
        y = ref.conv_transpose2d(as2d(x), as2d(w), b, **ref_args)
        return y if dims == 2 else y[:, :, 0]

    def reference_grads(dy, x, w, b=None):
        dx, dw, db = ref.conv_transpose2d_grads(as2d(x), as2d(w), as2d(dy), **ref_args)
        if dims == 1:
            dx, dw = dx[:, :, 0], dw[:, :, 0]
        return dict(x=dx, w=dw, **({"b": db} if b is not None else {}))

    def torch_forward(x, w, b=None):
        f = {1: torch.nn.functional.conv_transpose1d, 2: torch.nn.functional.conv_transpose2d}[dims]
        return f(x, w, b, args["stride"], args["padding"], args["output_padding"], args["groups"],
                 args["dilation"])

    return Op(forward, grads, reference, reference_grads, torch_forward)


def inputs_of(cfg, rng, dims=2):
    x_shape, w_shape = cfg["x_shape"], cfg["w_shape"]
    if dims == 1:
        x_shape, w_shape = x_shape[:2] + x_shape[3:], w_shape[:2] + w_shape[3:]
    return dict(x=rng.standard_normal(x_shape), w=rng.standard_normal(w_shape),
                b=rng.standard_normal(w_shape[1] * cfg["groups"]))


CONFIGS = [random_config(np.random.default_rng(seed)) for seed in range(40)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"cfg{i}" for i in range(len(CONFIGS))])
def test_conv_transpose2d_sweep(cfg, dtype, isa, rng):
    check_op(transpose_op(cfg), inputs_of(cfg, rng), dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", range(12))
def test_conv_transpose1d_sweep(seed, dtype, isa):
    rng = np.random.default_rng(2000 + seed)
    cfg = random_config(rng)
    # Height 1 in the 2-D reference: no stride, padding or dilation along it.
    cfg.update(x_shape=cfg["x_shape"][:2] + (1,) + cfg["x_shape"][3:],
               w_shape=cfg["w_shape"][:2] + (1,) + cfg["w_shape"][3:],
               stride=(1, cfg["stride"][1]), padding=(0, cfg["padding"][1]),
               output_padding=(0, cfg["output_padding"][1]), dilation=(1, cfg["dilation"][1]))
    check_op(transpose_op(cfg, dims=1), inputs_of(cfg, rng, dims=1), dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 64, 32, 17, 18), (2, 24, 40, 9, 33), (1, 3, 16, 31, 20)])
def test_conv_transpose2d_unet_up_convolution(shape, dtype, isa, rng):
    """The U-Net up-convolution (2x2, stride 2) at sizes with full register tiles, several row
    tiles and channel blocks, odd sizes included."""
    n, cin, cout, h, w = shape
    cfg = dict(x_shape=(n, cin, h, w), w_shape=(cin, cout, 2, 2), stride=(2, 2), padding=(0, 0),
               output_padding=(0, 0), groups=1, dilation=(1, 1))
    check_op(transpose_op(cfg), inputs_of(cfg, rng), dtype, rng)


# (N, C_in, C_out/groups, H, W, kernel rows R, output_padding, groups): the patch path (kernel
# (R, 2) at its own stride, no padding): a single column, channels that fill no tile, more input
# channels than one panel block (200 > 128) and, for the input gradient, more patch rows than
# one (40 * 2 * 2 = 160), rows past the last patch (output_padding), 1-row kernels, groups; for
# the weight gradient's path with lanes along input channels (at least a vector of them per
# group), groups and a 1-row kernel.
PATCHES = [(2, 5, 3, 7, 1, 2, (1, 1), 1), (1, 200, 7, 5, 11, 2, (0, 1), 1),
           (1, 6, 9, 4, 40, 3, (2, 0), 3), (3, 4, 2, 9, 8, 1, (0, 1), 2),
           (1, 130, 40, 3, 17, 2, (0, 0), 1), (2, 8, 4, 1, 23, 2, (1, 0), 2),
           (2, 40, 5, 6, 7, 2, (1, 1), 2), (1, 36, 3, 5, 9, 1, (0, 1), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", PATCHES, ids=[f"patch{i}" for i in range(len(PATCHES))])
def test_conv_transpose2d_patches(shape, dtype, isa, rng):
    n, cin, cog, h, w, r, output_padding, groups = shape
    cfg = dict(x_shape=(n, cin, h, w), w_shape=(cin, cog, r, 2), stride=(r, 2), padding=(0, 0),
               output_padding=output_padding, groups=groups, dilation=(1, 1))
    check_op(transpose_op(cfg), inputs_of(cfg, rng), dtype, rng)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_transpose1d_patches(dtype, isa, rng):
    cfg = dict(x_shape=(3, 150, 1, 37), w_shape=(150, 5, 1, 2), stride=(1, 2), padding=(0, 0),
               output_padding=(0, 1), groups=1, dilation=(1, 1))
    check_op(transpose_op(cfg, dims=1), inputs_of(cfg, rng, dims=1), dtype, rng)


def test_conv_transpose2d_patches_write_every_output_element(isa, rng):
    """Into a NaN-poisoned out=, bias rows and columns (output_padding) included."""
    x = rng.standard_normal((2, 9, 5, 7)).astype(np.float32)
    w = rng.standard_normal((9, 6, 2, 2)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    out = np.full((2, 6, 11, 15), np.nan, np.float32)
    fastseg.conv_transpose2d(x, w, b, stride=2, output_padding=1, out=out)
    assert_close(out, ref.conv_transpose2d(x, w, b, stride=(2, 2), output_padding=(1, 1)),
                 TOLERANCE[out.dtype])


@pytest.mark.parametrize("dims,stride,padding,output_padding,groups,dilation", [
    (2, 1, 0, 0, 1, 1), (2, 2, 1, 1, 2, 1), (2, 3, (2, 0), (2, 1), 1, 2),
    (2, (1, 2), 1, (1, 0), 3, (2, 1)), (1, 3, 2, 1, 2, 2)])
def test_conv_transpose_finite_differences(dims, stride, padding, output_padding, groups,
                                           dilation, isa, rng):
    args = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
                dilation=dilation)
    op = {1: (fastseg.conv_transpose1d, fastseg.grad.conv_transpose1d_input,
              fastseg.grad.conv_transpose1d_weight, fastseg.grad.conv_transpose1d_bias),
          2: (fastseg.conv_transpose2d, fastseg.grad.conv_transpose2d_input,
              fastseg.grad.conv_transpose2d_weight, fastseg.grad.conv_transpose2d_bias)}[dims]
    spatial = (5, 6)[2 - dims:]
    x = rng.standard_normal((2, 2 * groups, *spatial))
    w = rng.standard_normal((2 * groups, 3, 3, 2)[:dims + 2])
    b = rng.standard_normal(3 * groups)

    def grads(dy, x, w, b):
        return {"x": op[1](dy, w, **args), "w": op[2](x, w.shape, dy, **args), "b": op[3](dy)}

    check_finite_differences(lambda x, w, b: op[0](x, w, b, **args), grads, dict(x=x, w=w, b=b), rng)


def test_output_padding_beyond_padding_leaves_only_the_bias(rng):
    """output_padding > padding: the last output rows and columns receive no input (the
    underlying conv2d has negative bottom/right padding)."""
    x = rng.standard_normal((1, 2, 4, 3))
    w = rng.standard_normal((2, 3, 2, 2))
    b = rng.standard_normal(3)
    y = fastseg.conv_transpose2d(x, w, b, stride=3, padding=0, output_padding=2)
    assert y.shape == (1, 3, 4 * 3 - 3 + 2 + 2, 3 * 3 - 3 + 2 + 2)
    assert_close(y, ref.conv_transpose2d(x, w, b, (3, 3), (0, 0), (2, 2)), TOLERANCE[y.dtype])
    assert np.array_equal(y[0, :, -2:], np.broadcast_to(b[:, None, None], (3, 2, y.shape[3])))


def test_results_do_not_depend_on_thread_count(rng):
    x = rng.standard_normal((3, 8, 19, 23)).astype(np.float32)
    w = rng.standard_normal((8, 6, 3, 3)).astype(np.float32)
    args = dict(stride=2, padding=1, output_padding=1, groups=2)
    dy = rng.standard_normal((3, 12, 38, 46)).astype(np.float32)
    assert fastseg.conv_transpose2d(x, w, **args).shape == dy.shape
    assert_same_for_any_thread_count(lambda: (
        fastseg.conv_transpose2d(x, w, **args), fastseg.grad.conv_transpose2d_input(dy, w, **args),
        fastseg.grad.conv_transpose2d_weight(x, w.shape, dy, **args),
        fastseg.grad.conv_transpose2d_bias(dy)))


def test_patch_path_results_do_not_depend_on_thread_count(rng):
    """The 2x2 stride-2 path: more input channels than one panel block and, for the input
    gradient, more patch rows than one (40 * 4 = 160), odd sizes, output_padding. 16 threads:
    the weight gradient's two partial sums are then split by output channels and by pairs."""
    x = rng.standard_normal((2, 150, 20, 21)).astype(np.float32)
    w = rng.standard_normal((150, 40, 2, 2)).astype(np.float32)
    b = rng.standard_normal(40).astype(np.float32)
    dy = rng.standard_normal((2, 40, 41, 43)).astype(np.float32)
    args = dict(stride=2, output_padding=1)
    assert_same_for_any_thread_count(lambda: (
        fastseg.conv_transpose2d(x, w, b, **args), fastseg.grad.conv_transpose2d_input(dy, w, **args),
        fastseg.grad.conv_transpose2d_weight(x, w.shape, dy, **args)), counts=(1, 2, 3, 5, 16))


def test_inputs_of_any_layout_work_and_are_not_modified(rng):
    x = np.asfortranarray(rng.standard_normal((2, 4, 5, 6)).astype(np.float32))
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)[:, :, ::-1, :]  # negative strides
    b = rng.standard_normal(6).astype(np.float32)[::2]
    x.flags.writeable = False
    copies = [a.copy() for a in (x, w, b)]
    y = fastseg.conv_transpose2d(x, w, b, stride=2, padding=1)
    assert_close(y, ref.conv_transpose2d(x, w, b, (2, 2), (1, 1)), TOLERANCE[y.dtype])
    dy = np.asfortranarray(rng.standard_normal(y.shape).astype(np.float32))
    assert_close(fastseg.grad.conv_transpose2d_input(dy, w, stride=2, padding=1),
                 ref.conv_transpose2d_grads(x, w, dy, (2, 2), (1, 1))[0], TOLERANCE[y.dtype])
    for a, c in zip((x, w, b), copies):
        assert np.array_equal(a, c)


def test_unbatched_and_zero_batch(rng):
    x = rng.standard_normal((3, 5, 4))
    w = rng.standard_normal((3, 2, 3, 3))
    y = fastseg.conv_transpose2d(x, w, stride=2)
    assert_close(y, ref.conv_transpose2d(x[None], w, stride=(2, 2))[0], TOLERANCE[y.dtype])
    empty = fastseg.conv_transpose2d(np.zeros((0, 3, 5, 4)), w, stride=2)
    assert empty.shape == (0, 2, 11, 9)
    assert fastseg.grad.conv_transpose2d_input(empty, w, stride=2).shape == (0, 3, 5, 4)
    assert np.array_equal(
        fastseg.grad.conv_transpose2d_weight(np.zeros((0, 3, 5, 4)), w.shape, empty, stride=2),
        np.zeros(w.shape))
    assert np.array_equal(fastseg.grad.conv_transpose2d_bias(empty), np.zeros(2))
    y1 = fastseg.conv_transpose1d(rng.standard_normal((2, 7)), rng.standard_normal((2, 3, 3)))
    assert y1.shape == (3, 9)


def test_out_argument(rng):
    x = rng.standard_normal((1, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    out = np.full((1, 3, 8, 8), np.nan, np.float32)
    assert fastseg.conv_transpose2d(x, w, stride=2, out=out) is out
    assert_close(out, ref.conv_transpose2d(x, w, stride=(2, 2)), TOLERANCE[out.dtype])
    with pytest.raises(ValueError, match="out: expected shape"):
        fastseg.conv_transpose2d(x, w, out=np.empty((1, 3, 8, 8), np.float32))
    with pytest.raises(TypeError, match="out: expected dtype float32"):
        fastseg.conv_transpose2d(x, w, stride=2, out=np.empty((1, 3, 8, 8)))
    with pytest.raises(ValueError, match="out: must not overlap"):
        big = np.zeros((1, 3, 4, 4), np.float32)
        fastseg.conv_transpose2d(big[:, :2], np.zeros((2, 3, 1, 1), np.float32), out=big)


X = np.zeros((2, 4, 5, 5), np.float32)
W = np.zeros((4, 3, 3, 3), np.float32)
DY = np.zeros((2, 3, 7, 7), np.float32)


@pytest.mark.parametrize("call,error,match", [
    (lambda: fastseg.conv_transpose2d(X[0, 0], W), ValueError, r"input: expected a 3 or 4-D array, got shape \(5, 5\)"),
    (lambda: fastseg.conv_transpose2d(X, W[0]), ValueError, "weight: expected a 4-D array"),
    (lambda: fastseg.conv_transpose2d(X, np.zeros((6, 3, 3, 3), np.float32)), ValueError,
     r"weight: expected 4 input channels \(those of input\) in dimension 0, got shape \(6, 3, 3, 3\)"),
    (lambda: fastseg.conv_transpose2d(X, W, groups=3), ValueError, r"groups: input channels \(4\) must be divisible by groups \(3\)"),
    (lambda: fastseg.conv_transpose2d(X, W, groups=0), ValueError, "groups: expected an int >= 1, got 0"),
    (lambda: fastseg.conv_transpose2d(X, W, stride=0), ValueError, "stride: expected an int >= 1, got 0"),
    (lambda: fastseg.conv_transpose2d(X, W, stride=(1, 2, 3)), ValueError, "stride: expected 2 values, got 3"),
    (lambda: fastseg.conv_transpose2d(X, W, dilation=0), ValueError, "dilation: expected an int >= 1, got 0"),
    (lambda: fastseg.conv_transpose2d(X, W, padding=-1), ValueError, "padding: expected an int >= 0, got -1"),
    (lambda: fastseg.conv_transpose2d(X, W, padding="same"), TypeError, "padding: expected an int, got str"),
    (lambda: fastseg.conv_transpose2d(X, W, output_padding=-1), ValueError, "output_padding: expected an int >= 0, got -1"),
    (lambda: fastseg.conv_transpose2d(X, W, stride=2, output_padding=2), ValueError,
     r"output_padding: expected each value smaller than the stride \(2, 2\) or the dilation \(1, 1\), got \(2, 2\)"),
    (lambda: fastseg.conv_transpose2d(X, W, output_padding=(0, 1)), ValueError, "output_padding: expected each value smaller"),
    (lambda: fastseg.conv_transpose2d(X, W, padding=4), ValueError,
     r"input: the output size \(-1, -1\) of input size \(5, 5\) is not positive"),
    (lambda: fastseg.conv_transpose2d(X[:, :0], W[:0]), ValueError, "input: expected non-zero"),
    (lambda: fastseg.conv_transpose2d(X, W[:, :0]), ValueError, "weight: expected non-zero sizes"),
    (lambda: fastseg.conv_transpose2d(X.astype(np.int32), W), TypeError, "input: expected dtype float32 or float64, got int32"),
    (lambda: fastseg.conv_transpose2d(X, W.astype(np.float64)), TypeError, "weight: expected dtype float32 .the dtype of input., got float64"),
    (lambda: fastseg.conv_transpose2d(X, W, np.zeros(3)), TypeError, "bias: expected dtype float32"),
    (lambda: fastseg.conv_transpose2d(X, W, np.zeros(4, np.float32)), ValueError, r"bias: expected shape \(3,\), got \(4,\)"),
    (lambda: fastseg.conv_transpose2d(X, W, stride=1.5), TypeError, "stride: expected an int, got float"),
    (lambda: fastseg.conv_transpose1d(X, W), ValueError, "input: expected a 2 or 3-D array"),
    (lambda: fastseg.grad.conv_transpose2d_input(DY[:, :2], W), ValueError, r"grad_output: expected shape \(2, 3, 7, 7\), got \(2, 2, 7, 7\)"),
    (lambda: fastseg.grad.conv_transpose2d_input(DY, W, stride=3), ValueError,
     r"grad_output: spatial size \(7, 7\) is not an output size of conv_transpose2d"),
    (lambda: fastseg.grad.conv_transpose2d_input(DY[:, :, :2], W), ValueError, r"grad_output: spatial size \(2, 7\)"),
    (lambda: fastseg.grad.conv_transpose2d_input(DY[:, :, :0], W), ValueError, "grad_output: expected non-zero"),
    (lambda: fastseg.grad.conv_transpose2d_input(DY[0], W), ValueError, "grad_output: expected a 4-D array"),
    (lambda: fastseg.grad.conv_transpose2d_input(DY.astype(np.float64), W), TypeError,
     "grad_output: expected dtype float32 .the dtype of weight., got float64"),
    (lambda: fastseg.grad.conv_transpose2d_weight(X, (4, 3, 3), DY), ValueError, "weight_size: expected a shape of 4 ints"),
    (lambda: fastseg.grad.conv_transpose2d_weight(X, W.shape, DY[:, :, 1:]), ValueError, r"grad_output: expected shape \(2, 3, 7, 7\)"),
    (lambda: fastseg.grad.conv_transpose2d_weight(X, W.shape, DY.astype(np.float64)), TypeError,
     "grad_output: expected dtype float32 .the dtype of input., got float64"),
    (lambda: fastseg.grad.conv_transpose2d_weight(X, W.shape, DY, output_padding=1), ValueError, "output_padding: expected each value smaller"),
    (lambda: fastseg.grad.conv_transpose2d_bias(DY[0]), ValueError, "grad_output: expected a 4-D array"),
])
def test_bad_input_raises_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(torch is None, reason="PyTorch not installed")
@pytest.mark.parametrize("kwargs", [dict(groups=3), dict(stride=0), dict(padding=-1),
                                    dict(output_padding=-1), dict(stride=2, output_padding=2),
                                    dict(padding=4)])
def test_torch_rejects_what_fastseg_rejects(kwargs):
    """Every error condition above is one PyTorch has too."""
    with pytest.raises(ValueError):
        fastseg.conv_transpose2d(X, W, **kwargs)
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv_transpose2d(torch.from_numpy(X), torch.from_numpy(W), **kwargs)
