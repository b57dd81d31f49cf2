#!/usr/bin/env python3
"""Writes N rows made from an .fvecs base: row i is base row (i mod rows) plus Gaussian
noise of `--sigma` times that dimension's standard deviation (so copies differ), for scaling
measurements beyond the real data's size. Streams in chunks; needs numpy.

Usage: augment_fvecs.py --base glove50_base.fvecs --n 2000000 --out base-2000000.fvecs [--sigma 0.05]
"""
import argparse

import numpy as np


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    dim = int(raw[0])
    return raw.reshape(-1, dim + 1)[:, 1:].view(np.float32).copy()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--base", required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--sigma", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    base = read_fvecs(a.base)
    rows, dim = base.shape
    std = base.std(axis=0) * a.sigma
    rng = np.random.default_rng(a.seed)
    with open(a.out, "wb") as f:
        for start in range(0, a.n, 100_000):
            idx = np.arange(start, min(start + 100_000, a.n)) % rows
            chunk = base[idx] + rng.standard_normal((len(idx), dim)).astype(np.float32) * std
            out = np.empty((len(idx), dim + 1), dtype=np.float32)
            out[:, 0] = np.array([dim], dtype=np.int32).view(np.float32)[0]
            out[:, 1:] = chunk
            out.tofile(f)


if __name__ == "__main__":
    main()
