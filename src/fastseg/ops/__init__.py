"""NumPy-facing kernels with PyTorch names and semantics, one module per op family."""
