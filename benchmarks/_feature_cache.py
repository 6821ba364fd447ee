"""Inception features of benchmark images, cached on disk chunk by chunk.

On two CPU cores the FID Inception network takes about 0.12 s per image, so the
10,000 test images of a dataset cost 20 minutes; the scripts compute them once and
share them through ``--cache-dir``.
"""

import json
import time
from pathlib import Path

import numpy as np

from sklearn_lorae.metrics import extract_features

DEFAULT_CACHE_DIR = "/tmp/fid_features"


def cached_inception_features(name, images, cache_dir, timings, chunk=1000):
    """Inception features of ``images`` (uint8 rows), computed ``chunk`` rows at a time.

    Each chunk's features and extraction times are cached, so that an interrupted run
    resumes where it stopped and a rerun reports the times measured when the features
    were computed.
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    wall = cpu = 0.0
    for start in range(0, len(images), chunk):
        rows = images[start : start + chunk]
        path = cache_dir / f"{name}_{start:05d}_{len(rows)}.npy"
        times_path = path.with_suffix(".json")
        if not path.exists():
            wall_start, cpu_start = time.perf_counter(), time.process_time()
            # Pixels in [0, 255]: the network sees exactly the 8-bit images.
            features = extract_features(
                rows.astype(np.float32), features="inception", pixel_range=(0, 255), batch_size=64
            )
            chunk_times = {
                "wall_s": time.perf_counter() - wall_start,
                "cpu_s": time.process_time() - cpu_start,
            }
            np.save(path, features.astype(np.float32))
            times_path.write_text(json.dumps(chunk_times))
        parts.append(np.load(path))
        chunk_times = json.loads(times_path.read_text())
        wall += chunk_times["wall_s"]
        cpu += chunk_times["cpu_s"]
        print(
            f"{name}: {start + len(rows)}/{len(images)} images, {wall:.0f} s wall, {cpu:.0f} s CPU so far",
            flush=True,
        )
    timings[name] = {"images": len(images), "wall_s": wall, "cpu_s": cpu}
    return np.concatenate(parts).astype(np.float64)
