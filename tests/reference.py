"""Float64 NumPy references: plain loops over taps, no tricks shared with the kernels."""

from __future__ import annotations

import numpy as np

# fastseg padding mode -> numpy.pad mode
NP_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap",
          "symmetric": "symmetric"}


def pad_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source index of each padded position of a length-n axis (-1 where zero)."""
    marker = np.arange(n, dtype=np.float64)
    if mode == "zeros":
        return np.concatenate([-np.ones(before), marker, -np.ones(after)]).astype(np.int64)
    return np.pad(marker, (before, after), mode=NP_PAD[mode]).astype(np.int64)


def pad2d(x: np.ndarray, pads, mode: str) -> np.ndarray:
    top, left, bottom, right = pads
    rows = pad_index(x.shape[-2], top, bottom, mode)
    cols = pad_index(x.shape[-1], left, right, mode)
    out = x[..., np.clip(rows, 0, None)[:, None], np.clip(cols, 0, None)[None, :]]
    return out * ((rows[:, None] >= 0) & (cols[None, :] >= 0))


def unpad2d(gp: np.ndarray, shape, pads, mode: str) -> np.ndarray:
    """Adjoint of pad2d: sums each padded position's gradient into its source."""
    top, left, bottom, right = pads
    rows = pad_index(shape[-2], top, bottom, mode)
    cols = pad_index(shape[-1], left, right, mode)
    out = np.zeros(shape, np.float64)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    keep = (rr >= 0) & (cc >= 0)
    np.add.at(out, (..., rr[keep], cc[keep]), gp[..., keep])
    return out


def _taps(xp, r, s, stride, dilation, out_hw):
    sh, sw = stride
    dh, dw = dilation
    P, Q = out_hw
    return xp[:, :, r * dh: r * dh + sh * (P - 1) + 1: sh, s * dw: s * dw + sw * (Q - 1) + 1: sw]


def conv2d(x, w, b=None, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1,
           mode="zeros"):
    """y (N,K,P,Q) from x (N,C,H,W), w (K,C/g,R,S); cross-correlation as in PyTorch."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    xp = pad2d(x, pads, mode)
    N, C, Hp, Wp = xp.shape
    K, Cg, R, S = w.shape
    P = (Hp - dilation[0] * (R - 1) - 1) // stride[0] + 1
    Q = (Wp - dilation[1] * (S - 1) - 1) // stride[1] + 1
    Kg = K // groups
    y = np.zeros((N, K, P, Q))
    for g in range(groups):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                y[:, g * Kg:(g + 1) * Kg] += np.einsum(
                    "ncpq,kc->nkpq", _taps(xs, r, s, stride, dilation, (P, Q)),
                    w[g * Kg:(g + 1) * Kg, :, r, s])
    if b is not None:
        y += np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv2d_grads(x, w, dy, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1,
                 mode="zeros"):
    """(dx, dw, db) of sum(dy * conv2d(x, w, b))."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    xp = pad2d(x, pads, mode)
    K, Cg, R, S = w.shape
    P, Q = dy.shape[2:]
    Kg = K // groups
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for g in range(groups):
        xs = xp[:, g * Cg:(g + 1) * Cg]
        dys = dy[:, g * Kg:(g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                dw[g * Kg:(g + 1) * Kg, :, r, s] = np.einsum(
                    "nkpq,ncpq->kc", dys, _taps(xs, r, s, stride, dilation, (P, Q)))
                view = _taps(dxp[:, g * Cg:(g + 1) * Cg], r, s, stride, dilation, (P, Q))
                view += np.einsum("nkpq,kc->ncpq", dys, w[g * Kg:(g + 1) * Kg, :, r, s])
    return unpad2d(dxp, x.shape, pads, mode), dw, dy.sum(axis=(0, 2, 3))


def _transposed_full_size(x_shape, w_shape, stride, output_padding, dilation):
    """Spatial size of the uncropped transposed output, output padding included."""
    return tuple((n - 1) * s + d * (k - 1) + 1 + o
                 for n, k, s, o, d in zip(x_shape[2:], w_shape[2:], stride, output_padding, dilation))


def _transposed_windows(x_shape, w_shape, stride, dilation, groups):
    """(group channels of x, group channels of y, window of the full output) per input pixel:
    the output positions that pixel (h, w) times the kernel lands on."""
    _, cin, H, W = x_shape
    _, cog, R, S = w_shape
    cig = cin // groups
    for g in range(groups):
        for h in range(H):
            for w in range(W):
                rows = slice(h * stride[0], h * stride[0] + dilation[0] * (R - 1) + 1, dilation[0])
                cols = slice(w * stride[1], w * stride[1] + dilation[1] * (S - 1) + 1, dilation[1])
                yield (slice(g * cig, (g + 1) * cig), slice(g * cog, (g + 1) * cog), h, w,
                       rows, cols)


def conv_transpose2d(x, w, b=None, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                     groups=1, dilation=(1, 1)):
    """y (N, C_out, H_out, W_out) of x (N, C_in, H, W), w (C_in, C_out/g, R, S): each input pixel
    times its group's kernel, scattered into the output, which is then cropped by the padding."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    Hf, Wf = _transposed_full_size(x.shape, w.shape, stride, output_padding, dilation)
    full = np.zeros((x.shape[0], w.shape[1] * groups, Hf, Wf))
    for ci, co, h, col, rows, cols in _transposed_windows(x.shape, w.shape, stride, dilation, groups):
        full[:, co, rows, cols] += np.einsum("nc,ckrs->nkrs", x[:, ci, h, col], w[ci])
    y = full[:, :, padding[0]:Hf - padding[0], padding[1]:Wf - padding[1]]
    if b is not None:
        y = y + np.asarray(b, np.float64)[None, :, None, None]
    return y


def conv_transpose2d_grads(x, w, dy, stride=(1, 1), padding=(0, 0), output_padding=(0, 0),
                           groups=1, dilation=(1, 1)):
    """(dx, dw, db) of sum(dy * conv_transpose2d(x, w, b)): each input pixel gathers the
    gradient of the output window it was scattered to."""
    x = np.asarray(x, np.float64)
    w = np.asarray(w, np.float64)
    Hf, Wf = _transposed_full_size(x.shape, w.shape, stride, output_padding, dilation)
    dfull = np.zeros((x.shape[0], w.shape[1] * groups, Hf, Wf))
    dfull[:, :, padding[0]:Hf - padding[0], padding[1]:Wf - padding[1]] = dy
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for ci, co, h, col, rows, cols in _transposed_windows(x.shape, w.shape, stride, dilation, groups):
        window = dfull[:, co, rows, cols]
        dx[:, ci, h, col] = np.einsum("nkrs,ckrs->nc", window, w[ci])
        dw[ci] += np.einsum("nc,nkrs->ckrs", x[:, ci, h, col], window)
    return dx, dw, np.asarray(dy, np.float64).sum(axis=(0, 2, 3))


def gram(f, scale=1.0):
    """G (N, C, C) = scale * F F^T with F = f[n] as (C, H*W)."""
    F = np.asarray(f, np.float64).reshape(f.shape[0], f.shape[1], f.shape[2] * f.shape[3])
    return scale * np.einsum("nip,njp->nij", F, F)


def gram_grad(f, dg, scale=1.0):
    """Gradient of sum(dg * gram(f, scale)) with respect to f."""
    F = np.asarray(f, np.float64).reshape(f.shape[0], f.shape[1], f.shape[2] * f.shape[3])
    dg = np.asarray(dg, np.float64)
    return (scale * np.einsum("nij,njp->nip", dg + dg.transpose(0, 2, 1), F)).reshape(f.shape)
