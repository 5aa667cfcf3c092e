"""fastseg.nn: every layer's forward and gradients against PyTorch (float32 and float64) and
float64 finite differences, the losses with all their options, the Module system (names,
state_dict, modes), initialisation and MC-dropout uncertainty."""

import math

import numpy as np
import pytest

import fastseg
from fastseg import nn
from fastseg.autograd import gradcheck
from fastseg.nn import functional as F
from helpers import torch
from nn_helpers import compare_with_torch, layer_parity, needs_torch, one_thread  # noqa: F401

DTYPES = [np.float64, np.float32]


def needs_kernel(name):
    return pytest.mark.skipif(not hasattr(fastseg, name), reason=f"fastseg.{name} not merged yet")


def t64(a, requires_grad=True):
    return fastseg.tensor(np.asarray(a, np.float64), requires_grad=requires_grad)


# ---- layers vs PyTorch ---------------------------------------------------------------------------

CONV_CASES = [
    dict(k=3, padding=1), dict(k=3, stride=2, padding=1, bias=False), dict(k=(3, 1), padding="same"),
    dict(k=3, padding=2, padding_mode="reflect"), dict(k=3, padding=1, padding_mode="replicate"),
    dict(k=3, padding=(1, 2), padding_mode="circular", dilation=2), dict(k=1, groups=2),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv2d_layer(case, dtype, rng):
    case = dict(case)
    k = case.pop("k")
    fs = nn.Conv2d(4, 6, k, **case)
    th = torch.nn.Conv2d(4, 6, k, **case)
    layer_parity(fs, th, rng.standard_normal((2, 4, 9, 8)), dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
def test_conv1d_layer(mode, dtype, rng):
    layer_parity(nn.Conv1d(3, 5, 3, padding=1, padding_mode=mode),
                 torch.nn.Conv1d(3, 5, 3, padding=1, padding_mode=mode),
                 rng.standard_normal((2, 3, 11)), dtype, rng)


def test_conv_symmetric_padding_gradcheck(rng, one_thread):
    w, b = t64(rng.standard_normal((3, 2, 3, 3))), t64(rng.standard_normal(3))
    x = t64(rng.standard_normal((1, 2, 5, 4)))
    for mode in ("zeros", "reflect", "replicate", "circular", "symmetric"):
        assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, padding_mode=mode), [x, w, b],
                         max_elements=0)  # 8 random directions per input
    w1 = t64(rng.standard_normal((2, 2, 3)))
    assert gradcheck(lambda x, w: F.conv1d(x, w, stride=2, padding=2, padding_mode="symmetric"),
                     [t64(rng.standard_normal((2, 2, 7))), w1], max_elements=0)


BN_CASES = [dict(), dict(momentum=None), dict(affine=False), dict(track_running_stats=False),
            dict(eps=1e-3, momentum=0.3)]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BN_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_batchnorm2d_train_and_eval(case, dtype, rng):
    fs, th = nn.BatchNorm2d(3, **case), torch.nn.BatchNorm2d(3, **case)
    if fs.affine:
        fs.weight.data[...] = rng.standard_normal(3)
        fs.bias.data[...] = rng.standard_normal(3)
        th.load_state_dict({k: torch.tensor(v) for k, v in fs.state_dict().items()})
    for step in range(3):  # running statistics follow torch's over several batches
        x = rng.standard_normal((4, 3, 5, 6)) * 3 + 2
        layer_parity(fs, th, x, dtype, rng, train=True)
    layer_parity(fs, th, rng.standard_normal((2, 3, 5, 6)), dtype, rng, train=False)
    if fs.track_running_stats:
        assert int(fs.num_batches_tracked.data) == 3


def test_batchnorm_gradcheck_and_errors(rng):
    x = t64(rng.standard_normal((3, 2, 4, 3)))
    w, b = t64(rng.standard_normal(2)), t64(rng.standard_normal(2))
    assert gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [x, w, b])
    rm, rv = np.zeros(2), np.ones(2) * 2
    assert gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=False), [x, w, b])
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [t64(rng.standard_normal((5, 3)))])
    for training in (True, False):  # the fused BatchNorm + ReLU equals the two ops
        fused = F.batch_norm_relu(x, rm, rv, w, b, training=training)
        assert np.allclose(fused.data, F.relu(F.batch_norm(x, rm, rv, w, b, training)).data,
                           rtol=1e-14, atol=1e-14)
        assert gradcheck(lambda x, w, b: F.batch_norm_relu(x, rm, rv, w, b, training=training),
                         [x, w, b])
    poisoned = x.data.copy()
    poisoned[1, 0, 2, 1] = np.nan  # relu(NaN) is NaN in the fused kernel too, as in torch
    xs = [t64(poisoned), t64(poisoned)]
    fused = F.batch_norm_relu(xs[0], rm, rv, w, b, training=False)
    assert np.array_equal(np.isnan(fused.data), np.isnan(poisoned))
    fused.sum().backward()  # and its gradient flows through the NaN, as the two ops' does
    F.relu(F.batch_norm(xs[1], rm, rv, w, b, False)).sum().backward()
    assert np.isfinite(xs[0].grad.data).all()
    assert np.allclose(xs[0].grad.data, xs[1].grad.data, rtol=1e-14, atol=0)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm2d(2)(fastseg.tensor(np.ones((1, 2, 1, 1), np.float32)))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(2)(fastseg.tensor(np.ones((2, 2), np.float32)))
    with pytest.raises(ValueError, match="expected 2 channels"):
        nn.BatchNorm2d(2)(fastseg.tensor(np.ones((2, 3, 2, 2), np.float32)))


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
                                  "Identity", "Flatten"])
def test_activation_layers(name, dtype, rng):
    args = {"Softmax": (1,), "LogSoftmax": (1,)}.get(name, ())
    x = rng.standard_normal((2, 3, 4, 5)) * 4
    layer_parity(getattr(nn, name)(*args), getattr(torch.nn, name)(*args), x, dtype, rng)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_layer(dtype, rng):
    layer_parity(nn.Linear(5, 3), torch.nn.Linear(5, 3), rng.standard_normal((4, 5)), dtype, rng)


def test_sigmoid_and_softmax_are_stable_for_large_inputs():
    x = fastseg.tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]))
    s = F.sigmoid(x).data
    assert np.all(np.isfinite(s)) and s[0] == 0 and s[-1] == 1 and s[2] == 0.5
    assert np.isclose(s[1], math.exp(-50), rtol=1e-12)
    p = F.softmax(fastseg.tensor(np.array([[1000.0, 0.0, -1000.0]])), 1).data
    assert np.allclose(p, [[1, 0, 0]])
    assert np.all(np.isfinite(F.log_softmax(x.reshape(1, 5), 1).data))


def test_dropout_statistics_scaling_and_modes(rng):
    fastseg.manual_seed(3)
    x = fastseg.tensor(np.ones((8, 16, 32, 32), np.float32), requires_grad=True)
    drop = nn.Dropout(0.3)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.01
    assert np.allclose(y.data[kept], 1 / 0.7)
    y.sum().backward()
    assert np.array_equal(x.grad.data, y.data)  # gradient = the same scaled mask
    assert drop.eval()(x) is x and nn.Dropout(0.0)(x) is x
    channels = nn.Dropout2d(0.5)(x).data
    per_channel = channels.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))  # whole channels
    assert 0.35 < (per_channel[..., 0] == 0).mean() < 0.65
    fastseg.manual_seed(5)
    a = nn.Dropout(0.5)(x).data
    fastseg.manual_seed(5)
    assert np.array_equal(a, nn.Dropout(0.5)(x).data)  # reproducible with manual_seed
    assert np.all(nn.Dropout(1.0)(x).data == 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_gradcheck(rng):
    x = t64(rng.standard_normal((2, 3, 4, 4)))

    def fn(a):
        fastseg.manual_seed(0)  # the same mask on every call
        return F.dropout2d(F.dropout(a, 0.4), 0.3)
    assert gradcheck(fn, [x])


# ---- kernels of the pool / transpose branches ----------------------------------------------------

@needs_torch
@needs_kernel("max_pool2d")
@pytest.mark.parametrize("dtype", DTYPES)
def test_pooling_layers(dtype, rng):
    x = rng.standard_normal((2, 3, 9, 8))
    layer_parity(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x, dtype, rng)
    layer_parity(nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True),
                 x, dtype, rng)
    layer_parity(nn.AvgPool2d(3, 2, 1, count_include_pad=False),
                 torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), x, dtype, rng)
    for mode, align in (("nearest", None), ("bilinear", False), ("bilinear", True)):
        layer_parity(nn.Upsample(scale_factor=2, mode=mode, align_corners=align),
                     torch.nn.Upsample(scale_factor=2, mode=mode, align_corners=align), x, dtype, rng)


@needs_torch
@needs_kernel("max_unpool2d")
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_indices_and_unpool(dtype, rng):
    x = rng.standard_normal((2, 3, 8, 6))
    compare_with_torch(
        lambda a: F.max_unpool2d(*F.max_pool2d(a, 2, return_indices=True), 2, output_size=(8, 6)),
        lambda a: torch.nn.functional.max_unpool2d(
            *torch.nn.functional.max_pool2d(a, 2, return_indices=True), 2, output_size=(8, 6)),
        {"a": x}, dtype, rng)
    y, idx = nn.MaxPool2d(2, return_indices=True)(fastseg.tensor(x))
    assert idx.dtype == np.int64 and not idx.requires_grad


@needs_kernel("max_unpool2d")
def test_pooling_gradcheck(rng, one_thread):
    x = rng.standard_normal((1, 2, 7, 6))
    y, idx = F.max_pool2d(fastseg.tensor(x), 2, return_indices=True)
    assert gradcheck(lambda a: F.max_pool2d(a, 3, 2, 1), [t64(x)])
    assert gradcheck(lambda a: F.avg_pool2d(a, 3, 2, 1, count_include_pad=False), [t64(x)])
    for mode, align in (("bilinear", False), ("bilinear", True), ("nearest", None)):
        assert gradcheck(lambda a: F.interpolate(a, scale_factor=2, mode=mode, align_corners=align),
                         [t64(x[:, :1, :4, :3])])
    assert gradcheck(lambda a: F.max_unpool2d(a, idx.data, 2, output_size=(7, 6)), [t64(y.data)])


@needs_torch
@needs_kernel("conv_transpose2d")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", [dict(k=2, stride=2), dict(k=3, stride=2, padding=1, output_padding=1),
                                  dict(k=4, stride=2, padding=1, bias=False)],
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_conv_transpose2d_layer(case, dtype, rng):
    case = dict(case)
    k = case.pop("k")
    layer_parity(nn.ConvTranspose2d(4, 3, k, **case), torch.nn.ConvTranspose2d(4, 3, k, **case),
                 rng.standard_normal((2, 4, 5, 6)), dtype, rng)
    w = t64(rng.standard_normal((2, 3, k, k)))
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, case.get("stride", 1),
                                                     case.get("padding", 0),
                                                     case.get("output_padding", 0)),
                     [t64(rng.standard_normal((1, 2, 3, 4))), w])


@needs_kernel("gram")
def test_gram_and_style_loss(rng):
    g = t64(rng.standard_normal((2, 3, 4, 5)))
    s = rng.standard_normal((2, 3, 4, 5))
    for normalize in (None, "spatial", "size"):
        assert gradcheck(lambda a: F.gram(a, normalize), [g])
    a = g.data
    gram = np.einsum("nchw,ndhw->ncd", a, a)
    target = np.einsum("nchw,ndhw->ncd", s, s)
    expected = ((gram - target) ** 2).sum() / (2 * 4 * 5 * 3) ** 2
    assert np.isclose(F.style_loss(g, s).item(), expected, rtol=1e-12)
    assert np.isclose(F.style_loss(g, target).item(), expected, rtol=1e-12)  # a precomputed Gram
    assert gradcheck(lambda a: F.style_loss(a, s), [g])


# ---- losses --------------------------------------------------------------------------------------

CE_CASES = [dict(), dict(reduction="sum"), dict(reduction="none"), dict(ignore_index=1),
            dict(weight=True), dict(weight=True, ignore_index=0), dict(label_smoothing=0.2),
            dict(label_smoothing=0.1, weight=True, ignore_index=2),
            dict(label_smoothing=0.1, reduction="none", ignore_index=2),
            dict(label_smoothing=0.3, reduction="sum", weight=True)]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CE_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "default")
def test_cross_entropy_nchw(case, dtype, rng):
    case = dict(case)
    weight = rng.random(4) + 0.5 if case.pop("weight", False) else None
    x = rng.standard_normal((2, 4, 3, 5)) * 2
    target = rng.integers(0, 4, (2, 3, 5))
    inputs = {"x": x} if weight is None else {"x": x, "w": weight}
    compare_with_torch(
        lambda x, w=None: F.cross_entropy(x, target, w, **case),
        lambda x, w=None: torch.nn.functional.cross_entropy(x, torch.tensor(target), w, **case),
        inputs, dtype, rng, grad_names=["x"])
    fn = lambda x: F.cross_entropy(x, target, weight, **case)  # noqa: E731
    assert gradcheck(fn, [t64(x)])


@needs_torch
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_probability_targets_and_2d(smoothing, rng):
    x = rng.standard_normal((5, 3))
    p = rng.dirichlet(np.ones(3), 5)
    w = rng.random(3) + 0.5
    for reduction in ("mean", "sum", "none"):
        compare_with_torch(
            lambda x: F.cross_entropy(x, p, w, reduction=reduction, label_smoothing=smoothing),
            lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(p), torch.tensor(w),
                                                        reduction=reduction,
                                                        label_smoothing=smoothing),
            {"x": x}, np.float64, rng)
    t = rng.integers(0, 3, 5)
    compare_with_torch(lambda x: nn.CrossEntropyLoss()(x, t),
                       lambda x: torch.nn.CrossEntropyLoss()(x, torch.tensor(t)), {"x": x},
                       np.float32, rng)


@needs_torch
def test_nll_loss_and_errors(rng):
    logp = np.log(rng.dirichlet(np.ones(4), (3, 2)).transpose(0, 2, 1))  # (3, 4, 2)
    t = rng.integers(0, 4, (3, 2))
    for reduction in ("mean", "sum", "none"):
        compare_with_torch(lambda a: F.nll_loss(a, t, reduction=reduction, ignore_index=3),
                           lambda a: torch.nn.functional.nll_loss(a, torch.tensor(t),
                                                                  reduction=reduction,
                                                                  ignore_index=3),
                           {"a": logp}, np.float64, rng)
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.nll_loss(fastseg.tensor(logp), np.full((3, 2), 7))
    with pytest.raises(ValueError, match="target: expected shape \\(3, 2\\)"):
        F.nll_loss(fastseg.tensor(logp), np.zeros((3, 3), np.int64))
    with pytest.raises(TypeError, match="integer array"):
        F.nll_loss(fastseg.tensor(logp), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(fastseg.tensor(logp), t, reduction="avg")
    all_ignored = F.cross_entropy(fastseg.tensor(logp), np.full((3, 2), -100))
    assert np.isnan(all_ignored.item())  # as torch


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits(dtype, rng):
    x = rng.standard_normal((4, 3)) * 5
    y = rng.random((4, 3))
    w = rng.random((4, 3))
    pw = rng.random(3) * 3
    for reduction in ("mean", "sum", "none"):
        compare_with_torch(
            lambda x, y: F.binary_cross_entropy_with_logits(x, y, w, reduction, pw),
            lambda x, y: torch.nn.functional.binary_cross_entropy_with_logits(
                x, y, torch.tensor(w.astype(dtype)), reduction=reduction,
                pos_weight=torch.tensor(pw.astype(dtype))),
            {"x": x, "y": y}, dtype, rng)
        compare_with_torch(lambda x: nn.BCEWithLogitsLoss(reduction=reduction)(x, y.astype(dtype)),
                           lambda x: torch.nn.BCEWithLogitsLoss(reduction=reduction)(
                               x, torch.tensor(y.astype(dtype))), {"x": x}, dtype, rng)
    assert gradcheck(lambda x, y: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
                     [t64(x), t64(y)])


@needs_torch
@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss")
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_and_mse(log_target, rng):
    logq = np.log(rng.dirichlet(np.ones(5), 4))
    p = rng.dirichlet(np.ones(5), 4)
    p[0, 0] = 0.0  # 0 log 0 = 0
    target = np.log(p + 1e-3) if log_target else p
    for reduction in ("mean", "sum", "batchmean", "none"):
        compare_with_torch(
            lambda a, t: F.kl_div(a, t, reduction, log_target),
            lambda a, t: torch.nn.functional.kl_div(a, t, reduction=reduction, log_target=log_target),
            {"a": logq, "t": target}, np.float64, rng, grad_names=["a"])
    assert gradcheck(lambda a, t: F.kl_div(a, t, "batchmean", log_target),
                     [t64(logq), t64(target if log_target else p + 0.1)])
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    for reduction in ("mean", "sum", "none"):
        compare_with_torch(lambda a, b: F.mse_loss(a, b, reduction),
                           lambda a, b: torch.nn.functional.mse_loss(a, b, reduction=reduction),
                           {"a": a, "b": b}, np.float32, rng)


def test_dice_and_content_losses(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    t = rng.integers(0, 3, (2, 4, 5))
    assert gradcheck(lambda a: F.dice_loss(a, t), [t64(x)])
    perfect = np.where(np.arange(3)[None, :, None, None] == t[:, None], 50.0, -50.0)
    assert F.dice_loss(fastseg.tensor(perfect), t).item() < 1e-12
    probs = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    onehot = (t[:, None] == np.arange(3)[None, :, None, None])
    inter, denom = (probs * onehot).sum((0, 2, 3)), probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    expected = 1 - ((2 * inter + 1) / (denom + 1)).mean()
    assert np.isclose(nn.DiceLoss()(fastseg.tensor(x), t).item(), expected, rtol=1e-12)
    binary = rng.integers(0, 2, (2, 1, 4, 5))
    assert gradcheck(lambda a: F.dice_loss(a, binary), [t64(x[:, :1])])
    c = rng.standard_normal(x.shape)
    assert np.isclose(F.content_loss(fastseg.tensor(x), c).item(), ((x - c) ** 2).sum())
    assert gradcheck(lambda a: F.content_loss(a, c), [t64(x)])


# ---- Module system -------------------------------------------------------------------------------

class FsNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.heads = nn.ModuleList([nn.Conv2d(4, 2, 1), nn.Conv2d(4, 1, 1, bias=False)])
        self.extra = nn.ModuleDict({"drop": nn.Dropout(0.2), "bn": nn.BatchNorm2d(2, affine=False)})
        self.shared = self.heads[0]  # the same module twice: its parameters count once


def test_module_names_and_traversal_match_torch():
    net = FsNet()
    expected = ["features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
                "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert [n for n, _ in net.named_parameters()] == expected
    assert list(net.state_dict()) == [
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
        "heads.0.weight", "heads.0.bias", "heads.1.weight", "extra.bn.running_mean",
        "extra.bn.running_var", "extra.bn.num_batches_tracked", "shared.weight", "shared.bias"]
    assert [n for n, _ in net.named_modules()][:4] == ["", "features", "features.0", "features.1"]
    assert len(list(net.children())) == 4
    assert len(list(net.buffers())) == 6
    if torch is not None:
        th = torch.nn.Module()
        th.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
                                          torch.nn.ReLU())
        th.heads = torch.nn.ModuleList([torch.nn.Conv2d(4, 2, 1), torch.nn.Conv2d(4, 1, 1, bias=False)])
        th.extra = torch.nn.ModuleDict({"drop": torch.nn.Dropout(0.2),
                                        "bn": torch.nn.BatchNorm2d(2, affine=False)})
        th.shared = th.heads[0]
        assert list(th.state_dict()) == list(net.state_dict())
        assert [n for n, _ in th.named_parameters()] == expected
        assert [n for n, _ in th.named_modules()] == [n for n, _ in net.named_modules()]
        net.load_state_dict(th.state_dict())  # torch tensors load directly
        assert np.array_equal(net.heads[1].weight.data, th.heads[1].weight.detach().numpy())


def test_load_state_dict_errors_and_modes():
    net = FsNet()
    state = {k: np.array(v, copy=True) for k, v in net.state_dict().items()}
    state["features.0.weight"] = np.zeros((4, 3, 3, 3))
    net.load_state_dict(state)
    assert np.all(net.features[0].weight.data == 0) and net.features[0].weight.dtype == np.float32
    with pytest.raises(RuntimeError, match="size mismatch for heads.0.bias"):
        net.load_state_dict({**state, "heads.0.bias": np.zeros(3)})
    with pytest.raises(RuntimeError, match="missing keys \\['heads.1.weight'\\]"):
        net.load_state_dict({k: v for k, v in state.items() if k != "heads.1.weight"})
    result = net.load_state_dict({**state, "bogus": np.zeros(1)}, strict=False)
    assert result.unexpected_keys == ["bogus"] and result.missing_keys == []
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    for p in net.parameters():
        p.grad = fastseg.tensor(np.ones(p.shape, np.float32))
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.double().features[0].weight.dtype == np.float64
    assert net.features[1].num_batches_tracked.dtype == np.int64


def test_default_initialisation_and_seed():
    fastseg.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3)
    bound = 1 / math.sqrt(16 * 9)  # kaiming_uniform(a=sqrt(5)) and the bias rule
    w = conv.weight.data
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert np.abs(conv.bias.data).max() <= bound
    tconv = nn.ConvTranspose2d(8, 4, 2, stride=2)
    assert tconv.weight.shape == (8, 4, 2, 2)
    assert np.abs(tconv.weight.data).max() <= 1 / math.sqrt(4 * 4)  # fan_in = weight.size(1)*k*k
    bn = nn.BatchNorm2d(5)
    assert np.all(bn.weight.data == 1) and np.all(bn.running_var.data == 1)
    fastseg.manual_seed(0)
    assert np.array_equal(nn.Conv2d(16, 32, 3).weight.data, w)
    if torch is not None:
        th = torch.nn.Conv2d(16, 32, 3)
        assert np.abs(th.weight.detach().numpy()).max() <= bound  # the same distribution


# ---- Monte-Carlo dropout uncertainty -------------------------------------------------------------

def test_predict_with_uncertainty(rng):
    fastseg.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Dropout2d(0.5), nn.Conv2d(8, 3, 1))
    x = rng.standard_normal((2, 2, 6, 7)).astype(np.float32)
    model(fastseg.tensor(x))  # one training-mode pass: BatchNorm's running stats move
    model.train()
    result = nn.predict_with_uncertainty(model, x, samples=16)
    assert result.mean.shape == (2, 3, 6, 7) and result.entropy.shape == (2, 6, 7)
    assert np.allclose(result.mean.sum(1), 1, atol=1e-5)
    assert np.all(result.entropy <= math.log(3) + 1e-6)
    assert np.all(result.mutual_information >= 0)
    assert np.all(result.mutual_information <= result.entropy + 1e-6)
    assert result.mutual_information.max() > 1e-3  # dropout makes the samples disagree
    assert all(m.training for m in model.modules())  # modes restored
    model.eval()
    single = nn.predict_with_uncertainty(model, x, samples=1)
    assert np.all(single.mutual_information == 0)
    assert not any(m.training for m in model.modules())
    with pytest.raises(ValueError, match="no Dropout layer"):
        nn.predict_with_uncertainty(nn.Conv2d(2, 3, 1), x, samples=4)
    with pytest.raises(ValueError, match="samples"):
        nn.predict_with_uncertainty(model, x, samples=0)


def test_unet_inference_folds_batchnorm_into_the_convolutions(rng):
    """In eval mode without gradients, DoubleConv runs conv + BatchNorm + ReLU as one fused
    convolution; the result matches the layer-by-layer path (eval with gradients enabled)."""
    fastseg.manual_seed(3)
    model = nn.UNet(2, 3, base_channels=8, depth=2)
    for module in model.modules():  # non-trivial running statistics and affine parameters
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.data[...] = rng.standard_normal(module.num_features)
            module.running_var.data[...] = rng.uniform(0.5, 2.0, module.num_features)
            module.weight.data[...] = rng.uniform(0.5, 1.5, module.num_features)
            module.bias.data[...] = rng.standard_normal(module.num_features)
    model.eval()
    x = fastseg.tensor(rng.standard_normal((2, 2, 20, 24)).astype(np.float32))
    layered = model(x).detach().numpy()
    with fastseg.no_grad():
        fused = model(x).numpy()
    np.testing.assert_allclose(fused, layered, rtol=1e-4, atol=1e-4 * np.abs(layered).max())
