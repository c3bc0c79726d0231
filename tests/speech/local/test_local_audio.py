import asyncio
import os
import subprocess
import sys

import numpy as np
import pytest

from speech.local import audio
from speech.local.audio import SAMPLE_RATE, VoiceActivityDetector, level_dbfs, speak, tone
from tests.servers import ROOT
from tests.speech.local.speech_samples import require_espeak


def frames(samples):
    for start in range(0, len(samples), audio.FRAME_SAMPLES):
        yield samples[start : start + audio.FRAME_SAMPLES]


def silence(seconds):
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.int16)


def detect(signal, vad=None):
    vad = vad or VoiceActivityDetector()
    return vad, [(outcome, vad.position_ms) for chunk in frames(signal) if (outcome := vad.feed(chunk))]


def test_a_spoken_turn_starts_and_stops():
    vad, outcomes = detect(np.concatenate([silence(0.5), tone(1.0), silence(0.6)]))
    assert [o for o, _ in outcomes] == ["started", "stopped"]
    assert 500 <= outcomes[0][1] <= 600
    utterance = vad.take_utterance()
    assert 1.0 <= len(utterance) / SAMPLE_RATE <= 1.4  # the turn plus its prefix padding, no trailing silence


def test_silence_and_short_clicks_are_not_speech():
    click = np.concatenate([tone(0.02), silence(0.5)])
    _, outcomes = detect(np.concatenate([silence(1.0), click, click]))
    assert outcomes == []


def test_server_vad_parameters_are_honoured():
    vad = VoiceActivityDetector.for_turn_detection(
        {"type": "server_vad", "threshold": 0.9, "silence_duration_ms": 800, "prefix_padding_ms": 100}
    )
    assert (vad.silence_frames, vad.prefix.maxlen) == (40, 5)
    assert vad.threshold_dbfs == pytest.approx(-25.0)
    quiet_speech = (tone(1.0) * 0.05).astype(np.int16)  # about -40 dBFS: under the raised threshold
    assert detect(quiet_speech, vad)[1] == []


def test_speech_uses_espeak_with_the_voice_mapped_from_openais():
    if audio.shutil.which("espeak-ng") is None:
        message = "espeak-ng is not installed (make system-deps installs it)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    verse = asyncio.run(speak("Hello there", voice="verse"))
    marin = asyncio.run(speak("Hello there", voice="marin"))
    assert len(verse) / SAMPLE_RATE > 0.4
    assert level_dbfs(verse) > -40
    assert not np.array_equal(verse[: len(marin)], marin[: len(verse)])


def test_without_espeak_a_tone_answers(monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    samples = asyncio.run(speak("Hello", voice="verse"))
    assert np.array_equal(samples, tone())


@pytest.fixture
def long_file(tmp_path):
    """A server file whose text would take minutes to say."""
    path = tmp_path / "server-file.txt"
    path.write_text("This is a line of a private server file. " * 100)
    return path


def seconds_of(samples):
    return len(samples) / SAMPLE_RATE


@pytest.mark.parametrize("shape", ["-f{path}", "-f {path}", "--stdin -f{path}", "\n-f{path}", "  -f{path}"])
def test_typed_text_that_names_a_file_is_said_not_read(long_file, shape):
    require_espeak()
    samples = asyncio.run(speak(shape.format(path=long_file), voice="verse"))
    assert 0.6 < seconds_of(samples) < 12, "the literal text, not the file (about two minutes) nor a tone"


@pytest.mark.parametrize("shape", ["-w {path}", "-w{path}", "--phonout={path}"])
def test_typed_text_that_names_an_output_file_writes_nothing(tmp_path, shape):
    require_espeak()
    target = tmp_path / "written"
    samples = asyncio.run(speak(shape.format(path=target), voice="verse"))
    assert not target.exists()
    assert seconds_of(samples) > 0.6 and not np.array_equal(samples, tone())


def test_typed_text_that_names_a_data_path_is_said(tmp_path):
    """--path would point espeak-ng at another data folder (and here lose its voices, answering a tone)."""
    require_espeak()
    samples = asyncio.run(speak(f"--path={tmp_path}", voice="verse"))
    assert seconds_of(samples) > 0.6 and not np.array_equal(samples, tone())


def test_a_synthesis_that_takes_too_long_answers_a_tone(monkeypatch):
    require_espeak()
    monkeypatch.setattr(audio, "SPEAK_TIMEOUT_SECONDS", 0.001)
    assert np.array_equal(asyncio.run(speak("Hello there " * 50, voice="verse")), tone())


# 2,000 characters (what a reply says) of counting: some four and a half minutes at speed 0.25 (espeak-ng
# speaks no slower than 80 words a minute).
COUNTING = "one two three four five six seven eight nine ten " * 40
# A word every two characters: 2,000 of them would take over twelve minutes.
DIGITS = "7 " * 1000


def test_a_reply_holds_at_most_the_longest_speech_however_slow():
    require_espeak()
    samples = asyncio.run(speak(DIGITS, voice="verse", speed=0.25))
    assert seconds_of(samples) == pytest.approx(300, abs=0.01)  # docs/local-provider.md, "Limits"


def test_a_reply_too_long_to_say_whole_is_refused_when_asked_whole():
    require_espeak()
    with pytest.raises(audio.SpeechTooLong):
        asyncio.run(speak(DIGITS, voice="verse", speed=0.25, whole=True))


MEASURE = """
import asyncio, tracemalloc
from speech.local import audio
tracemalloc.start()
samples = asyncio.run(audio.speak({text!r}, voice="verse", speed=0.25))
audio.wav_bytes(samples)
print(tracemalloc.get_traced_memory()[1])
"""


def test_the_longest_slowest_reply_takes_little_memory():
    """One reply's peak, in a process of its own: 4.5 minutes of speech once took 450 MiB (float64 copies)."""
    require_espeak()
    script = MEASURE.format(text=COUNTING)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 100 * 2**20
