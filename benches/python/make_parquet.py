#!/usr/bin/env python3
"""Writes an fvecs file as Parquet in stratovec's column convention: `id` (uint64),
`vector` (fixed_size_list<float32>[dim]) and a metadata column `bucket` (int64, row % 10,
so `bucket = 0` selects 10% of the rows). Snappy, row groups of 65,536 rows.

    python benches/python/make_parquet.py ../shared/data/glove50/glove50_base.fvecs /tmp/glove50.parquet
"""
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bench import read_vecs  # same directory


def main():
    src, out = sys.argv[1], sys.argv[2]
    base = read_vecs(src, np.float32)
    n, dim = base.shape
    table = pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.uint64)),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(base.ravel()), dim),
            "bucket": pa.array(np.arange(n, dtype=np.int64) % 10),
        }
    )
    pq.write_table(table, out, compression="snappy", row_group_size=65536)
    print(f"{out}: {n} rows x {dim}")


if __name__ == "__main__":
    main()
