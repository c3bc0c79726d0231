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


def recognise(samples) -> str:
    """Words in 48 kHz mono int16 audio ("" when none); runs in the worker process."""
    global _decoder
    if _decoder is None:
        from pocketsphinx import Decoder

        _decoder = Decoder(samprate=RATE, loglevel="FATAL")
    _decoder.start_utt()
    _decoder.process_raw(to_16k(samples).tobytes(), full_utt=True)
    _decoder.end_utt()
    hypothesis = _decoder.hyp()
    return hypothesis.hypstr.strip() if hypothesis is not None else ""


def _low_pass(taps=63, cutoff_hz=7000):
    """A windowed-sinc FIR under the 8 kHz Nyquist of 16 kHz audio (the model listens up to about 6.9 kHz)."""
    n = np.arange(taps) - (taps - 1) / 2
    kernel = np.sinc(2 * cutoff_hz / 48000 * n) * np.hamming(taps)
    return (kernel / kernel.sum()).astype(np.float32)


LOW_PASS = _low_pass()


def to_16k(samples):
    """48 kHz int16 samples to 16 kHz: filtered, then every third sample."""
    filtered = np.convolve(samples.astype(np.float32), LOW_PASS, mode="same")[::3]
    return np.clip(np.rint(filtered), -32768, 32767).astype(np.int16)


def available():
    return importlib.util.find_spec("pocketsphinx") is not None


class TranscriptionFailed(Exception):
    pass


class Recogniser:
    """Transcribes 48 kHz int16 utterances off the event loop: None when no recogniser is installed,
    TranscriptionFailed when the worker died or took too long (it is replaced for the next utterance)."""

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
        """Start the worker and load the model ahead of the first utterance (once per worker)."""
        if available() and self._pool is None:
            self._executor().submit(recognise, np.zeros(4800, dtype=np.int16))

    async def transcribe(self, samples):
        if not available():
            return None
        pool = self._executor()
        try:
            future = asyncio.get_running_loop().run_in_executor(pool, recognise, samples)
            return await asyncio.wait_for(future, TIMEOUT_SECONDS)
        except (concurrent.futures.process.BrokenProcessPool, TimeoutError) as exc:
            logger.warning("speech recognition failed (%s); the worker will be restarted", type(exc).__name__)
            self.close()
            raise TranscriptionFailed(type(exc).__name__) from None

    def close(self):
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


recogniser = Recogniser()
