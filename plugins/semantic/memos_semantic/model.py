"""The embedding model: WordLlama, loaded on first use and run off the event loop.

WordLlama is a static word-embedding model (token vectors averaged, then normalised): its weights
(16 MB) and tokenizer ship inside its wheel, it needs no GPU and no network, and it embeds about ten
thousand short texts a second on one core. Loading it takes about 0.2 s and ~100 MB of memory
(importing it another 0.5 s), paid by the first embedding, never at start-up.

Every call runs on one thread of this module's own (:func:`embed`): the worker's batches and the
queries of searches take turns there instead of competing for the machine's cores.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # NumPy is imported by the first embedding or search, not at start-up
    import numpy as np

#: What a vector row records as its model: another name (or dimension) means re-embedding.
MODEL = "wordllama-l2_supercat-256"
DIM = 256
#: Content past this many characters adds little to an averaged embedding and costs time.
MAX_CHARS = 20_000

_lock = threading.Lock()
_model: Any = None
_executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="memos-semantic")


def _load() -> Any:
    global _model
    with _lock:
        if _model is None:
            import wordllama

            # Both files are looked up in the package itself: as the cache folder it holds
            # ``weights/`` and ``tokenizers/``, and downloads are off, so nothing is ever fetched.
            package = Path(wordllama.__file__).parent
            _model = wordllama.WordLlama.load("l2_supercat", cache_dir=package, dim=DIM, disable_download=True)
        return _model


def is_loaded() -> bool:
    """Whether this process has loaded the model (tests check that start-up does not)."""
    return _model is not None


def embed_sync(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text; a text with nothing the model knows (empty,
    only symbols) gets a row of zeros, which callers store as "no vector"."""
    import numpy as np

    model = _load()
    vectors = np.asarray(model.embed([t[:MAX_CHARS] for t in texts], norm=False), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


async def embed(texts: list[str]) -> np.ndarray:
    """:func:`embed_sync` on the model's thread."""
    return await asyncio.get_running_loop().run_in_executor(_executor, embed_sync, texts)


async def run(fn: Any, *args: Any) -> Any:
    """Run other NumPy work (the fallback's similarity scan) on the model's thread."""
    return await asyncio.get_running_loop().run_in_executor(_executor, fn, *args)
