#!/usr/bin/env python3
"""Writes a clustered Gaussian data set as .fvecs, shaped like embeddings rather than
uniform noise: points of a 64-centre Gaussian mixture in a 32-dimensional latent space,
mapped to `dim` dimensions by a fixed random linear map, plus a little isotropic noise
(intrinsic dimension about 32 whatever `dim` is). Base rows and queries come from the same
distribution.

Usage: synthetic_fvecs.py --n N --dim D --nq Q --out DIR [--seed S]
Writes DIR/base-{n}x{dim}.fvecs and DIR/queries-{n}x{dim}.fvecs (numpy needed: the peers venv
of benches/peers/run.sh has it)."""
import argparse
import os

import numpy as np


def write_fvecs(path, x):
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    out = np.empty((n, d + 1), dtype=np.float32)
    out[:, 0] = np.frombuffer(np.int32(d).tobytes(), dtype=np.float32)[0]
    out[:, 1:] = x
    out.tofile(path)


def mixture(rng, centres, n, spread):
    pick = rng.integers(0, len(centres), size=n)
    return centres[pick] + rng.normal(0, spread, size=(n, centres.shape[1])).astype(np.float32)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--nq", type=int, default=500)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    latent = 32
    centres = rng.normal(0, 1, size=(64, latent)).astype(np.float32)
    lift = (rng.normal(0, 1, size=(latent, a.dim)) / np.sqrt(latent)).astype(np.float32)
    os.makedirs(a.out, exist_ok=True)
    for name, n in [(f"base-{a.n}x{a.dim}", a.n), (f"queries-{a.n}x{a.dim}", a.nq)]:
        x = mixture(rng, centres, n, 0.7) @ lift
        x += rng.normal(0, 0.05, size=x.shape).astype(np.float32)
        write_fvecs(os.path.join(a.out, f"{name}.fvecs"), x)


if __name__ == "__main__":
    main()
