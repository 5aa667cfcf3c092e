"""The same small U-Net in fastseg and PyTorch: same state_dict keys, a PyTorch state_dict loads
and gives the same output, and 5 training steps of every optimizer give the same losses and
parameters (float32 to 1e-4, float64 to 1e-10). A few hundred steps on a synthetic task drive
the loss down and the IoU up. FCN and SegNet: any input size, finite-difference gradients."""

import numpy as np
import pytest

import fastseg
from fastseg import nn, optim
from fastseg.autograd import gradcheck
from fastseg.bench.unet import torch_unet
from helpers import assert_close, torch
from nn_helpers import layer_parity, needs_torch, one_thread  # noqa: F401 (fixture)

needs_kernels = pytest.mark.skipif(
    not all(hasattr(fastseg, k) for k in ("max_pool2d", "conv_transpose2d", "interpolate")),
    reason="the pooling / transposed-convolution kernels are not merged yet")


@pytest.fixture(autouse=True)
def tiny_models_on_one_thread(one_thread):
    yield


def twin_unets(dtype, upsample="transpose", **kw):
    """A torch U-Net and the fastseg one loaded from its state_dict."""
    torch.manual_seed(0)
    args = dict(in_channels=2, num_classes=3, base_channels=4, depth=2, upsample=upsample, **kw)
    th = torch_unet(**args).to(torch.float64 if dtype == np.float64 else torch.float32)
    fs = nn.UNet(**args).to(dtype)
    fs.load_state_dict(th.state_dict())
    return fs, th


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(batchnorm=False), dict(upsample="bilinear"),
                                dict(dropout=0.2, depth=3)], ids=str)
def test_state_dict_keys_and_shapes_line_up(kw):
    args = dict(in_channels=1, num_classes=2, base_channels=4, depth=2)
    args.update(kw)
    fs, th = nn.UNet(**args), torch_unet(**args)
    fs_state, th_state = fs.state_dict(), th.state_dict()
    assert list(fs_state) == list(th_state)
    for k, v in th_state.items():
        assert fs_state[k].shape == tuple(v.shape), k
    assert [n for n, _ in fs.named_parameters()] == [n for n, _ in th.named_parameters()]


@needs_torch
@needs_kernels
@pytest.mark.parametrize("upsample", ["transpose", "bilinear"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_torch_weights_give_the_same_output_and_gradients(upsample, dtype, rng):
    fs, th = twin_unets(dtype, upsample)
    x = rng.standard_normal((2, 2, 13, 10))  # odd size: padded and cropped inside
    for train in (True, False):  # batch statistics (and running ones updated), then running
        assert layer_parity(fs, th, x, dtype, rng, train).shape == (2, 3, 13, 10)


STEP_OPTIMIZERS = [("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
                   ("Adagrad", dict(lr=0.05)), ("RMSprop", dict(lr=1e-3, momentum=0.5, centered=True)),
                   ("Adam", dict(lr=1e-3, amsgrad=True)), ("AdamW", dict(lr=1e-3))]


@needs_torch
@needs_kernels
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,options", STEP_OPTIMIZERS, ids=[n for n, _ in STEP_OPTIMIZERS])
def test_five_training_steps_match_torch(name, options, dtype, rng):
    fs, th = twin_unets(dtype)
    tol = 1e-10 if dtype == np.float64 else 1e-4
    if name == "RMSprop" and dtype == np.float32:
        # RMSprop's first steps are ~10 lr per element whatever the gradient's size, so the
        # float32 rounding of a small gradient element (1e-2 of itself when it is 1e-4 of the
        # largest) becomes that fraction of a full step; float64 checks the formulas at lr=1e-3.
        options = dict(options, lr=1e-5)
    opt = getattr(optim, name)(fs.parameters(), **options)
    opt_t = getattr(torch.optim, name)(th.parameters(), **options)
    weight = np.array([0.5, 1.0, 2.0], dtype)
    for step in range(5):
        x = rng.standard_normal((2, 2, 16, 12)).astype(dtype)
        t = rng.integers(0, 3, (2, 16, 12))
        t[0, :2] = -100  # ignored pixels
        opt.zero_grad()
        loss = nn.functional.cross_entropy(fs(fastseg.tensor(x)), t, weight, label_smoothing=0.1)
        loss.backward()
        opt.step()
        opt_t.zero_grad()
        loss_t = torch.nn.functional.cross_entropy(th(torch.tensor(x)), torch.tensor(t),
                                                   torch.tensor(weight), label_smoothing=0.1)
        loss_t.backward()
        opt_t.step()
        assert_close(loss.item(), loss_t.item(), tol, f"loss at step {step}")
    params = dict(th.named_parameters())
    for name_, p in fs.named_parameters():
        assert_close(p.data, params[name_].detach().numpy(), tol, f"{name_} after 5 steps")


def synthetic_batch(rng, n=8, size=24):
    """Images with a bright noisy disc of random centre and radius; label 1 inside the disc."""
    yy, xx = np.mgrid[:size, :size]
    images, labels = [], []
    for _ in range(n):
        cy, cx, r = rng.uniform(6, size - 6, 2).tolist() + [rng.uniform(3, 7)]
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        images.append(mask * 1.0 + rng.normal(0, 0.35, mask.shape))
        labels.append(mask.astype(np.int64))
    return np.array(images, np.float32)[:, None], np.array(labels)


def iou(logits, labels):
    pred = logits.argmax(1)
    inter = ((pred == 1) & (labels == 1)).sum()
    union = ((pred == 1) | (labels == 1)).sum()
    return inter / max(union, 1)


@needs_kernels
def test_training_drives_the_loss_down_and_the_iou_up(rng):
    fastseg.manual_seed(0)
    model = nn.UNet(1, 2, base_channels=4, depth=2)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.StepLR(opt, 150, gamma=0.3)
    x_val, t_val = synthetic_batch(rng, 16)

    def evaluate():
        model.eval()
        with fastseg.no_grad():
            logits = model(fastseg.tensor(x_val))
        model.train()
        return nn.functional.cross_entropy(logits, t_val).item(), iou(logits.data, t_val)

    loss0, iou0 = evaluate()
    for _ in range(200):
        x, t = synthetic_batch(rng)
        opt.zero_grad()
        nn.functional.cross_entropy(model(fastseg.tensor(x)), t).backward()
        opt.step()
        sched.step()
    loss1, iou1 = evaluate()
    assert loss1 < 0.3 * loss0, (loss0, loss1)
    assert iou1 > 0.8 and iou1 > iou0 + 0.3, (iou0, iou1)


@needs_kernels
@pytest.mark.parametrize("model_cls", ["FCN", "SegNet"])
def test_fcn_and_segnet_any_size_and_gradients(model_cls, rng):
    fastseg.manual_seed(0)
    model = getattr(nn, model_cls)(2, 3, base_channels=2, depth=2).double()
    for size in ((8, 8), (13, 10), (5, 7)):
        x = rng.standard_normal((2, 2) + size)
        assert model(fastseg.tensor(x)).shape == (2, 3) + size
    x = fastseg.tensor(rng.standard_normal((2, 2, 9, 6)), requires_grad=True)
    assert gradcheck(lambda a: model(a), [x], max_elements=0)
    weight = next(model.parameters())  # gradcheck perturbs the parameter in place
    assert gradcheck(lambda w: model(x.detach()), [weight], max_elements=0)
