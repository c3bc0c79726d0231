"""Audio for the local peer: the outgoing track, voice activity detection, speech synthesis."""

import asyncio
import contextlib
import fractions
import io
import logging
import shutil
import time
import wave
import weakref
from collections import deque

import numpy as np
from aiortc import MediaStreamTrack
from av import AudioFrame

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms, what Opus carries per packet
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
# The longest turn-detection timings a session may ask for (OpenAI's defaults are 500 and 300 ms).
MAX_SILENCE_MS = 10_000
MAX_PREFIX_MS = 2_000

# OpenAI voice -> espeak-ng voice, so the tenant's voice choice is audible offline.
ESPEAK_VOICES = {
    "alloy": "en-us+f2",
    "ash": "en-us+m3",
    "ballad": "en-gb+m2",
    "coral": "en-us+f4",
    "echo": "en-us+m1",
    "sage": "en-gb+f3",
    "shimmer": "en-us+f5",
    "verse": "en-us+m4",
    "marin": "en-us+f1",
    "cedar": "en-gb+m5",
}


def to_mono(frame):
    """An incoming av.AudioFrame as mono int16 samples (aiortc decodes Opus to 48 kHz s16)."""
    samples = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = samples.mean(axis=0)
    else:
        mono = samples.reshape(-1, channels).mean(axis=1)
    return mono.astype(np.int16)


def level_dbfs(samples):
    if samples.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))
    return 20 * np.log10(max(rms, 1.0) / 32768.0)


class ReplyTrack(MediaStreamTrack):
    """The peer's voice: plays queued samples in real time, silence in between."""

    kind = "audio"

    def __init__(self):
        super().__init__()
        self._queue = deque()  # (samples, future set when they have been played)
        self._offset = 0
        self._pts = 0
        self._started = None

    def play(self, samples):
        """Queue int16 mono samples at 48 kHz; the returned future is done once they have been sent."""
        done = asyncio.get_running_loop().create_future()
        self._queue.append((samples, done))
        return done

    def clear(self):
        """Drop what is queued (an interruption); returns whether anything was dropped."""
        dropped = bool(self._queue)
        while self._queue:
            _, done = self._queue.popleft()
            if not done.done():
                done.set_result(False)
        self._offset = 0
        return dropped

    @property
    def playing(self):
        return bool(self._queue)

    def _next_samples(self):
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._queue:
            samples, done = self._queue[0]
            take = min(FRAME_SAMPLES - filled, len(samples) - self._offset)
            out[filled : filled + take] = samples[self._offset : self._offset + take]
            filled += take
            self._offset += take
            if self._offset >= len(samples):
                self._queue.popleft()
                self._offset = 0
                if not done.done():
                    done.set_result(True)
        return out

    async def recv(self):
        if self.readyState != "live":
            from aiortc.mediastreams import MediaStreamError

            raise MediaStreamError
        if self._started is None:
            self._started = time.monotonic()
        wait = self._started + self._pts / SAMPLE_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(self._next_samples().tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame

    def stop(self):
        self.clear()
        super().stop()


class VoiceActivityDetector:
    """Energy-based turn detection, like server_vad: start after a run of loud frames, stop after silence.

    feed() returns "started", "stopped" or None; the utterance (with a little audio from
    before the start) is kept until take_utterance().
    """

    def __init__(self, *, threshold_dbfs=-45.0, start_ms=60, silence_ms=300, prefix_ms=300, max_seconds=30):
        self.threshold_dbfs = threshold_dbfs
        self.start_frames = max(1, start_ms // 20)
        self.silence_frames = max(1, silence_ms // 20)
        self.prefix = deque(maxlen=max(1, prefix_ms // 20))
        self.max_samples = max_seconds * SAMPLE_RATE
        self.speaking = False
        self.loud_run = 0
        self.quiet_run = 0
        self.chunks = []
        self.samples = 0
        self.utterance_start_ms = 0
        self.position_samples = 0  # of all audio fed, for audio_start_ms / audio_end_ms

    @classmethod
    def for_turn_detection(cls, turn_detection):
        """Honours server_vad's threshold (0..1), silence_duration_ms and prefix_padding_ms."""
        options = {}
        if isinstance(turn_detection, dict):
            if isinstance(turn_detection.get("threshold"), (int, float)):
                options["threshold_dbfs"] = -70.0 + 50.0 * min(max(turn_detection["threshold"], 0.0), 1.0)
            # Bounded: a client's session.update must not make a call keep minutes of audio it never uses.
            if isinstance(turn_detection.get("silence_duration_ms"), int):
                options["silence_ms"] = min(max(20, turn_detection["silence_duration_ms"]), MAX_SILENCE_MS)
            if isinstance(turn_detection.get("prefix_padding_ms"), int):
                options["prefix_ms"] = min(max(20, turn_detection["prefix_padding_ms"]), MAX_PREFIX_MS)
        return cls(**options)

    @property
    def position_ms(self):
        return self.position_samples * 1000 // SAMPLE_RATE

    def feed(self, samples):
        self.position_samples += len(samples)
        loud = level_dbfs(samples) > self.threshold_dbfs
        if not self.speaking:
            self.prefix.append(samples)
            self.loud_run = self.loud_run + 1 if loud else 0
            if self.loud_run >= self.start_frames:
                self.speaking, self.quiet_run = True, 0
                self.chunks, self.samples = list(self.prefix), sum(len(c) for c in self.prefix)
                self.utterance_start_ms = (self.position_samples - self.samples) * 1000 // SAMPLE_RATE
                self.prefix.clear()
                return "started"
            return None
        if self.samples < self.max_samples:
            self.chunks.append(samples)
            self.samples += len(samples)
        self.quiet_run = 0 if loud else self.quiet_run + 1
        if self.quiet_run >= self.silence_frames or self.samples >= self.max_samples:
            self.speaking, self.loud_run = False, 0
            return "stopped"
        return None

    def take_utterance(self):
        """The last utterance, without the trailing silence that ended it."""
        chunks, self.chunks, self.samples = self.chunks, [], 0
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate(chunks)
        trailing = min(self.quiet_run, self.silence_frames) * FRAME_SAMPLES
        return audio[: max(len(audio) - trailing, 0)]

    def clear(self):
        self.chunks, self.samples, self.speaking = [], 0, False
        self.loud_run = self.quiet_run = 0
        self.prefix.clear()


def tone(seconds=0.6, frequency=440.0):
    """A short tone with soft edges, when no speech synthesizer is installed."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    return (0.3 * 32767 * envelope * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


RESAMPLE_BLOCK = SAMPLE_RATE  # output samples resampled at once: np.interp's float64 temporaries stay small


def resample(samples, rate):
    """int16 samples at `rate` as int16 at 48 kHz (linear interpolation), a second at a time, so minutes of
    speech never hold float64 copies of the whole."""
    if rate == SAMPLE_RATE or samples.size == 0:
        return samples.astype(np.int16)
    out = np.empty(int(len(samples) * SAMPLE_RATE / rate), dtype=np.int16)
    for start in range(0, len(out), RESAMPLE_BLOCK):
        positions = np.arange(start, min(start + RESAMPLE_BLOCK, len(out))) * (rate / SAMPLE_RATE)
        low = int(positions[0])
        high = min(int(positions[-1]) + 2, len(samples))
        window = samples[low:high]
        out[start : start + len(positions)] = np.interp(positions - low, np.arange(len(window)), window)
    return out


SPEAK_MAX_CHARS = 2000
# The most audio one reply or one /v1/audio/speech answer may hold: about 4,096 characters of English at
# speed 1.0. espeak-ng's output is read no further, so a slow speed cannot buy minutes more (and memory).
SPEAK_MAX_SECONDS = 300
SPEAK_TIMEOUT_SECONDS = 20
# espeak-ng processes at once in this process, all calls together: more wait their turn.
SPEAK_CONCURRENCY = 4
_speakers = weakref.WeakKeyDictionary()  # event loop -> its semaphore (an asyncio lock serves one loop)


class SpeechTooLong(Exception):
    """The text's speech runs past SPEAK_MAX_SECONDS (speak(whole=True))."""


def _speaker_slots():
    loop = asyncio.get_running_loop()
    if loop not in _speakers:
        _speakers[loop] = asyncio.Semaphore(SPEAK_CONCURRENCY)
    return _speakers[loop]


ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's default speed, OpenAI's speed 1.0


async def speak(text, *, voice, speed=1.0, max_chars=SPEAK_MAX_CHARS, whole=False):
    """Speech for `text` (its first `max_chars` characters) at 48 kHz: espeak-ng with the voice mapped from
    OpenAI's, else a tone. At most SPEAK_MAX_SECONDS of it: cut there, or with `whole` SpeechTooLong."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return tone()
    async with _speaker_slots():
        samples, cut = await espeak_run(espeak, text[:max_chars], voice, speed)
    if cut and whole:
        raise SpeechTooLong
    return samples


WAV_HEADER_BYTES = 44  # espeak-ng's: RIFF, fmt and the data chunk's header


async def _espeak_read(stdout):
    """espeak-ng's WAV, read up to SPEAK_MAX_SECONDS of samples: (rate, int16 samples, cut) or None."""
    data, limit, rate = bytearray(), None, None
    while limit is None or len(data) < limit:
        chunk = await stdout.read(64 * 1024)
        if not chunk:
            break
        data += chunk
        if limit is None and len(data) >= WAV_HEADER_BYTES:
            try:
                with wave.open(io.BytesIO(bytes(data[:WAV_HEADER_BYTES]))) as reader:  # the header only
                    rate, width, channels = reader.getframerate(), reader.getsampwidth(), reader.getnchannels()
            except (wave.Error, EOFError):
                return None
            if (width, channels) != (2, 1):
                return None
            limit = WAV_HEADER_BYTES + 2 * rate * SPEAK_MAX_SECONDS
    if rate is None:
        return None
    body = memoryview(data)[WAV_HEADER_BYTES : limit]
    samples = np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2")
    return rate, samples, len(data) > limit


async def espeak_run(espeak, text, voice, speed=1.0):
    """One espeak-ng process for `text` (speak() bounds how many run at once): (48 kHz samples, whether they
    were cut at SPEAK_MAX_SECONDS)."""
    # The text goes in on stdin, never as an argument: there, "-f/etc/passwd" or "-w file" would be an option.
    words_per_minute = str(round(ESPEAK_WORDS_PER_MINUTE * speed))
    process = await asyncio.create_subprocess_exec(
        espeak, "--stdin", "--stdout", "-v", ESPEAK_VOICES.get(voice, "en-us"), "-s", words_per_minute,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(SPEAK_TIMEOUT_SECONDS):
            try:
                process.stdin.write(text.encode())
                await process.stdin.drain()
                process.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass  # it ended early: what it wrote, if anything, is read below
            read = await _espeak_read(process.stdout)
    except TimeoutError:
        logger.warning("espeak-ng took longer than %s s; answering with a tone", SPEAK_TIMEOUT_SECONDS)
        return tone(), False
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it may have ended on its own meanwhile
                process.kill()  # timed out or cut: nothing more of it is read
        await process.wait()
    if read is None:
        logger.warning("espeak-ng gave no audio; answering with a tone")
        return tone(), False
    rate, samples, cut = read
    # Off the event loop: minutes of speech take a noticeable while to resample.
    return await asyncio.to_thread(resample, samples, rate), cut


SPEECH_FILE_RATE = 24000  # what OpenAI's speech endpoint answers wav and pcm in


def wav_bytes(samples):
    """48 kHz samples as a 16-bit mono WAV file at 24 kHz (every other sample: espeak-ng's speech has
    nothing above 11 kHz to fold back)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SPEECH_FILE_RATE)
        writer.writeframes(np.ascontiguousarray(samples[:: SAMPLE_RATE // SPEECH_FILE_RATE], dtype="<i2"))
    return buffer.getvalue()
