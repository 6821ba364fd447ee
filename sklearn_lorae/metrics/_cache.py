"""The scorers' cache of reference features: the validation fold's features are
extracted once per process, not once per candidate.

An entry is keyed by a fingerprint of the data (its bytes, shape and dtype) and of the
feature settings. A fitted transformer, torch module or other picklable ``features`` is
known by a digest of its pickle, with arrays and tensors pickled as digests of their
contents, so that the copies unpickled in each task of a process pool share entries and
a refitted one does not; anything that cannot be pickled (a lambda) by its identity,
the entry holding a reference to it so that the identity is not reused. (skorch nets,
and so a fitted ``LoRAETransformer``, pickle their modules through ``torch.save``,
whose bytes differ between copies: such features share entries within one process and
its threads, but each copy in a process pool extracts anew. A plain function is known by
its name, as pickle stores it: one whose result depends on global state that changes
between calls would be served stale features.) The cache is a
per-process LRU, bounded in entries and bytes, and thread-safe: a thread that needs
features another thread is extracting waits for them.
"""

import hashlib
import pickle
import threading
from collections import OrderedDict

import numpy as np
import torch


class ReferenceFeatureCache:
    """Least-recently-used cache of features, bounded by ``max_entries`` and ``max_bytes``."""

    def __init__(self, max_entries=8, max_bytes=512 * 2**20):
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries = OrderedDict()  # key -> (features, settings)
        self._lock = threading.Lock()
        self._extracting = {}  # key -> lock held by the thread extracting its features

    def features(self, X, settings):
        """The features of X with ``settings`` (a ``FeatureSettings``), read-only."""
        key = (fingerprint_array(X), fingerprint_settings(settings))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
            key_lock = self._extracting.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                if key in self._entries:  # extracted by another thread meanwhile
                    self._entries.move_to_end(key)
                    return self._entries[key][0]
            try:
                (features,) = settings.extract(X)
                features.flags.writeable = False
                with self._lock:
                    self._store(key, features, settings)
            finally:
                with self._lock:
                    self._extracting.pop(key, None)
        return features

    def _store(self, key, features, settings):
        if features.nbytes > self.max_bytes:
            return
        self._entries[key] = (features, settings)
        while len(self._entries) > self.max_entries or self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)

    @property
    def nbytes(self):
        return sum(features.nbytes for features, _ in self._entries.values())

    def __len__(self):
        return len(self._entries)

    def clear(self):
        with self._lock:
            self._entries.clear()


def fingerprint_array(X):
    """A digest of an array's bytes, shape and dtype."""
    X = np.ascontiguousarray(X)
    digest = hashlib.blake2b(digest_size=20)
    digest.update(f"{X.shape}{X.dtype.str}".encode())
    digest.update(X.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def fingerprint_settings(settings):
    """What identifies the features that ``settings`` extract."""
    image_shape = None if settings.image_shape is None else tuple(int(s) for s in np.ravel(settings.image_shape))
    pixel_range = tuple(float(v) for v in np.ravel(settings.pixel_range))
    return (_fingerprint_extractor(settings.features), image_shape, pixel_range, settings.batch_size, settings.device)


def _fingerprint_extractor(features):
    if features is None or isinstance(features, str):
        return ("name", features)
    digest = hashlib.blake2b(digest_size=20)
    try:
        _ContentPickler(_DigestWriter(digest), protocol=pickle.HIGHEST_PROTOCOL).dump(features)
    except Exception:  # anything that does not pickle (a lambda) is known by its identity
        return ("identity", id(features))
    return ("pickle", digest.hexdigest())


class _DigestWriter:
    """A file-like object that feeds what is written to it to a digest."""

    def __init__(self, digest):
        self.write = digest.update


class _ContentPickler(pickle.Pickler):
    """Pickles arrays and tensors as digests of their contents: torch pickles a tensor's
    storage under its address, which differs between equal copies."""

    def persistent_id(self, obj):
        if isinstance(obj, torch.Tensor):
            data = obj.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy()
        elif isinstance(obj, np.ndarray) and obj.dtype != object:
            data = np.ascontiguousarray(obj).reshape(-1).view(np.uint8)
        else:
            return None
        return (type(obj).__name__, str(obj.dtype), tuple(obj.shape), hashlib.blake2b(data, digest_size=20).hexdigest())


#: The cache of this process, shared by all scorers.
REFERENCE_FEATURES = ReferenceFeatureCache()
