"""Speech to test recognition with: espeak-ng phrases at 48 kHz, as the call receives them, optionally through Opus."""

import io
import os
import shutil
import subprocess
import wave

import av
import numpy as np
import pytest

from speech.local.audio import SAMPLE_RATE

# The bundled pocketsphinx model mishears espeak-ng's default voice; this one it hears nearly word for word.
CLEAR_VOICE = ("en-us+m1", 120)


def require_espeak():
    if shutil.which("espeak-ng") is None:
        message = "espeak-ng is not installed (make system-deps installs it)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)


def espeak_48k(text, *, voice=CLEAR_VOICE[0], speed=CLEAR_VOICE[1]):
    wav = subprocess.run(
        ["espeak-ng", "--stdin", "--stdout", "-v", voice, "-s", str(speed)],
        input=text.encode(), capture_output=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    with wave.open(io.BytesIO(wav)) as reader:
        rate, samples = reader.getframerate(), np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
    # A filtering resampler (libswresample), as a sound card's would be; not the peer's linear one.
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out).astype(np.int16)


def through_opus(samples):
    """Encode to Opus at 48 kHz and decode again, as WebRTC carries the microphone."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = SAMPLE_RATE, "mono", "s16"
    encoder.bit_rate = 32000
    decoder = av.CodecContext.create("libopus", "r")
    decoder.sample_rate, decoder.layout, decoder.format = SAMPLE_RATE, "mono", "s16"
    out = []
    frames = len(samples) // 960
    for index in range(frames + 1):
        frame = None
        if index < frames:
            chunk = samples[None, index * 960 : (index + 1) * 960]
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, index * 960
        for packet in encoder.encode(frame):
            for decoded in decoder.decode(packet):
                out.append(decoded.to_ndarray().reshape(-1))
    return np.concatenate(out).astype(np.int16)


def overlap(heard, said):
    """How many of the said words were heard."""
    heard_words = heard.lower().split()
    return sum(1 for word in said.lower().split() if word in heard_words)
