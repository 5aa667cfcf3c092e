"""U-Net training step and inference, fastseg against PyTorch CPU in the same run: U-Net base 32,
depth 4, batch 4, 1x128x128 images, two classes, cross-entropy + Adam.

Both sides run with fastseg.set_memory_reuse(True), as `fastseg train` does and as the bench
runner sets for every case (freed activations stay in the heap instead of being unmapped and
faulted in again each step; it helps PyTorch a little too). `fastseg bench --filter unet` times
both sides; ``python -m fastseg.bench.unet`` also measures
the peak memory of each side, as the growth of the peak RSS of a fresh subprocess over its RSS
once the libraries are imported and the model built (so the libraries themselves don't count).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np

import fastseg

from .case import Case, add, optional_import

CONFIG = dict(in_channels=1, num_classes=2, base_channels=32, depth=4)
BATCH, SIZE = 4, 128
NAME = f"b{CONFIG['base_channels']} d{CONFIG['depth']} N{BATCH} 1x{SIZE}x{SIZE}"


def torch_unet(in_channels, num_classes, base_channels=64, depth=4, batchnorm=True,
               upsample="transpose", dropout=0.0):
    """The PyTorch model that fastseg.nn.UNet is equivalent to, module for module (same
    state_dict keys and shapes, same forward)."""
    import torch
    tnn = torch.nn

    def double_conv(cin, cout):
        layers = []
        for c in (cin, cout):
            layers.append(tnn.Conv2d(c, cout, 3, padding=1, bias=not batchnorm))
            if batchnorm:
                layers.append(tnn.BatchNorm2d(cout))
            layers.append(tnn.ReLU(inplace=True))
        if dropout:
            layers.append(tnn.Dropout2d(dropout))
        return tnn.Sequential(*layers)

    class UpBlock(tnn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = (tnn.ConvTranspose2d(cin, cin // 2, 2, stride=2) if upsample == "transpose"
                       else tnn.Sequential(tnn.Upsample(scale_factor=2, mode="bilinear",
                                                        align_corners=False),
                                           tnn.Conv2d(cin, cin // 2, 1)))
            self.conv = double_conv(cin, cout)

        def forward(self, x, skip):
            return self.conv(torch.cat([skip, self.up(x)], 1))

    class UNet(tnn.Module):
        def __init__(self):
            super().__init__()
            ch = [base_channels * 2 ** i for i in range(depth + 1)]
            self.encoder = tnn.ModuleList([double_conv(in_channels, ch[0])] +
                                          [double_conv(ch[i - 1], ch[i]) for i in range(1, depth + 1)])
            self.pool = tnn.MaxPool2d(2)
            self.decoder = tnn.ModuleList([UpBlock(ch[i + 1], ch[i]) for i in reversed(range(depth))])
            self.head = tnn.Conv2d(ch[0], num_classes, 1)

        def forward(self, x):
            h, w = x.shape[-2:]
            m = 2 ** depth
            ph, pw = -h % m, -w % m
            if ph or pw:
                x = tnn.functional.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            skips = []
            for i, block in enumerate(self.encoder):
                x = block(x if i == 0 else self.pool(x))
                skips.append(x)
            x = skips.pop()
            for block in self.decoder:
                x = block(x, skips.pop())
            x = self.head(x)
            return x[..., ph // 2: ph // 2 + h, pw // 2: pw // 2 + w] if ph or pw else x

    return UNet()


def forward_flops(in_channels, num_classes, base_channels, depth, n=BATCH, size=SIZE) -> float:
    """Multiply-add FLOPs (x2) of the U-Net's convolutions for one forward pass."""
    ch = [base_channels * 2 ** i for i in range(depth + 1)]
    flops = 0.0
    for i in range(depth + 1):
        pixels = n * (size >> i) ** 2
        cin = in_channels if i == 0 else ch[i - 1]
        flops += 2 * pixels * 9 * (cin * ch[i] + ch[i] * ch[i])  # encoder DoubleConv
        if i < depth:
            flops += 2 * pixels * ch[i + 1] * ch[i]  # ConvTranspose2d 2x2/s2: 4 taps at 1/4 pixels
            flops += 2 * pixels * 9 * (ch[i + 1] * ch[i] + ch[i] * ch[i])  # decoder DoubleConv
    return flops + 2 * n * size * size * ch[0] * num_classes


def _inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, CONFIG["in_channels"], SIZE, SIZE), dtype=np.float32)
    t = rng.integers(0, CONFIG["num_classes"], (BATCH, SIZE, SIZE))
    return x, t


def _callables(model, x, t, adam, cross_entropy, no_grad, train: bool):
    """The inference call (eval mode, no graph) or the training step (cross-entropy + Adam) of
    `model` on a fixed batch; the library's pieces are passed in, so both sides run the same
    code."""
    if not train:
        model.eval()

        def infer():
            with no_grad():
                return model(x)
        return infer
    opt = adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        return loss
    return step


def fastseg_callables(train: bool):
    fastseg.manual_seed(0)
    x, t = _inputs()
    return _callables(fastseg.nn.UNet(**CONFIG), fastseg.tensor(x), t, fastseg.optim.Adam,
                      fastseg.nn.functional.cross_entropy, fastseg.no_grad, train)


def torch_callables(torch, train: bool):
    torch.manual_seed(0)
    x, t = _inputs()
    return _callables(torch_unet(**CONFIG), torch.from_numpy(x), torch.from_numpy(t),
                      torch.optim.Adam, torch.nn.functional.cross_entropy, torch.no_grad, train)


def _setup(train: bool):
    def setup(peers):
        impls = {"fastseg": fastseg_callables(train)}
        torch = optional_import("torch", peers)
        if torch is not None:
            impls["torch"] = torch_callables(torch, train)
        return impls
    return setup


_FLOPS = forward_flops(**CONFIG)
if __name__ != "__main__":  # run as a script, the registry imports this module again
    add(Case(f"unet train-step {NAME}", "unet", 3 * _FLOPS, "GFLOP/s", _setup(True)))
    add(Case(f"unet inference {NAME}", "unet", _FLOPS, "GFLOP/s", _setup(False)))


# ---- peak memory, one fresh process per side -----------------------------------------------------

def _status_kb(field: str) -> int:
    """A memory field of /proc/self/status in kB. VmHWM (peak RSS) belongs to this process image:
    unlike ru_maxrss it does not inherit the peak of the parent that started us."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_memory(side: str, steps: int = 3) -> dict:
    """Run in a fresh process: RSS after imports + models + optimizer, peak RSS after `steps`
    training steps and one inference, in MB."""
    fastseg.set_memory_reuse(True)
    if side == "torch":
        import torch
        step, infer = torch_callables(torch, True), torch_callables(torch, False)
    else:
        step, infer = fastseg_callables(True), fastseg_callables(False)
    base = _status_kb("VmRSS")
    for _ in range(steps):
        step()
    infer()
    peak = _status_kb("VmHWM")
    return {"side": side, "base_mb": base / 1024, "peak_mb": peak / 1024,
            "growth_mb": (peak - base) / 1024}


def memory_in_subprocess(side: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "fastseg.bench.unet", "--memory-of", side],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory-of", choices=("fastseg", "torch"), help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    if args.memory_of:
        print(json.dumps(measure_memory(args.memory_of)))
        return 0
    from .runner import run
    results = run("^unet ", peers=("torch",), repeats=args.repeat)
    for case in results["cases"]:
        fs = case["impls"]["fastseg"]
        if "speedup_vs_torch" in fs:
            print(f"# {case['name']}: fastseg time / torch time = {1 / fs['speedup_vs_torch']:.2f}")
    memory = {side: memory_in_subprocess(side) for side in ("fastseg", "torch")}
    for side, m in memory.items():
        print(f"# peak RSS {side:8}: {m['peak_mb']:7.0f} MB (growth over imports + model "
              f"{m['growth_mb']:6.0f} MB)")
    if "torch" in memory:
        print(f"# fastseg / torch peak RSS growth = "
              f"{memory['fastseg']['growth_mb'] / memory['torch']['growth_mb']:.2f}, peak RSS = "
              f"{memory['fastseg']['peak_mb'] / memory['torch']['peak_mb']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
