"""Deterministic bytes for the files the emulator serves.

A file is a sequence of 1 MiB blocks. Every block is the same pseudo-random 1 MiB (derived from
``sha256(seed)``) rotated by an amount that depends on the block index, so a client that resumes at the
wrong offset - even a whole MiB off - gets different bytes and a different checksum. Any byte range is
computed in O(1) per block from a cached doubled block, so multi-GiB files are never materialised.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import lru_cache

BLOCK_SIZE = 1 << 20
# Odd, so consecutive block indexes get distinct rotations over the whole 2**20 period.
_ROTATION_STEP = 611_953


def content_seed(recording_id: str, kind: str) -> str:
    """Seed of one file of a recording (``kind`` is ``video``, ``audio`` or a track layer name)."""
    return f"{recording_id}:{kind}"


@lru_cache(maxsize=16)
def _doubled_block(seed: str) -> bytes:
    block = hashlib.shake_256(hashlib.sha256(seed.encode()).digest()).digest(BLOCK_SIZE)
    return block + block


def iter_content(seed: str, start: int, stop: int) -> Iterator[memoryview]:
    """Yield the bytes ``[start, stop)`` of the file with this seed, in slices of at most 1 MiB.

    Slices are zero-copy views; only the first and the last can be shorter than a block.
    """
    doubled = memoryview(_doubled_block(seed))
    position = start
    while position < stop:
        index, offset = divmod(position, BLOCK_SIZE)
        length = min(BLOCK_SIZE - offset, stop - position)
        begin = (index * _ROTATION_STEP) % BLOCK_SIZE + offset
        yield doubled[begin : begin + length]
        position += length


@lru_cache(maxsize=64)
def content_sha256(seed: str, size: int) -> str:
    """Hex sha256 of the whole file of ``size`` bytes (streams it: about 1 s per GiB)."""
    digest = hashlib.sha256()
    for chunk in iter_content(seed, 0, size):
        digest.update(chunk)
    return digest.hexdigest()


def content_etag(seed: str, size: int) -> str:
    """A strong ETag that identifies the file without reading it."""
    return '"' + hashlib.sha256(f"{seed}:{size}".encode()).hexdigest()[:32] + '"'
