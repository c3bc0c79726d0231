"""What the local model hears: pocketsphinx's bundled US English model (nothing downloads), in a worker process.

pocketsphinx holds the GIL while it decodes (about 1 s for a 6 s utterance here), which would stall the
call's event loop and with it the audio it paces; so recognition runs in one spawned worker process,
shared by every call of the process, queued in order.
"""

import asyncio
import concurrent.futures
import importlib.util
import logging
import multiprocessing
import threading

import numpy as np

logger = logging.getLogger(__name__)

RATE = 16000  # what the bundled acoustic model was trained on
TIMEOUT_SECONDS = 30

_decoder = None  # one per worker process, loaded on its first utterance


def recognise_pcm(pcm: bytes) -> str:
    """Words in 16 kHz mono s16 audio ("" when none); runs in the worker process."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(samprate=RATE, loglevel="FATAL")
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hypothesis = _decoder.hyp()
    return hypothesis.hypstr.strip() if hypothesis is not None else ""


def to_16k(samples):
    """48 kHz int16 samples to 16 kHz: the mean of each three (a low-pass as well as a decimation)."""
    usable = len(samples) - len(samples) % 3
    return samples[:usable].astype(np.int32).reshape(-1, 3).mean(axis=1).astype(np.int16)


def available():
    return importlib.util.find_spec("pocketsphinx") is not None


class Recogniser:
    """Transcribes 48 kHz int16 utterances off the event loop; None when no recogniser is installed or it failed."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pool = None

    def _executor(self):
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the parent runs threads (the peer's loop, request threads).
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context("spawn")
                )
            return self._pool

    def warm(self):
        """Start the worker and load the model ahead of the first utterance."""
        if available():
            self._executor().submit(recognise_pcm, bytes(2 * RATE // 10))

    async def transcribe(self, samples):
        if not available():
            return None
        pool = self._executor()
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, recognise_pcm, to_16k(samples).tobytes())
            return await asyncio.wait_for(future, TIMEOUT_SECONDS)
        except (concurrent.futures.process.BrokenProcessPool, TimeoutError) as exc:
            logger.warning("speech recognition failed (%s); the worker will be restarted", type(exc).__name__)
            self.close()
            return None

    def close(self):
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


recogniser = Recogniser()
