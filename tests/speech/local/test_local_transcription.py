import asyncio
import multiprocessing

import numpy as np
import pytest

from speech.local import transcription
from speech.local.audio import SAMPLE_RATE, tone
from speech.local.transcription import Recogniser, TranscriptionFailed, to_16k
from tests.speech.local.speech_samples import espeak_48k, overlap, require_espeak, through_opus

PHRASE = "please check order one two three"


def transcribe(samples):
    recogniser = Recogniser()
    try:
        return asyncio.run(recogniser.transcribe(samples))
    finally:
        recogniser.close()


def test_spoken_words_are_recognised_from_48_khz_audio_as_the_call_receives_it():
    """Opus-decoded 48 kHz PCM, as aiortc hands the call its microphone. (espeak-ng's raw output, never through
    a codec, is heard worse: "he's too short or want to three".)"""
    require_espeak()
    heard = transcribe(through_opus(espeak_48k(PHRASE)))
    assert overlap(heard, PHRASE) >= 4, heard


def test_a_tone_has_no_words():
    assert transcribe(np.concatenate([tone(0.8), np.zeros(SAMPLE_RATE // 2, dtype=np.int16)])) == ""


def test_without_pocketsphinx_there_is_no_transcript(monkeypatch):
    monkeypatch.setattr(transcription, "available", lambda: False)
    assert transcribe(tone(0.5)) is None


def test_a_broken_worker_fails_the_utterance_and_is_replaced():
    require_espeak()
    recogniser = Recogniser()

    async def scenario():
        await recogniser.transcribe(tone(0.1))  # the worker is up
        for process in multiprocessing.active_children():
            process.kill()
        with pytest.raises(TranscriptionFailed):
            await recogniser.transcribe(tone(0.5))
        healed = await recogniser.transcribe(through_opus(espeak_48k(PHRASE)))
        return healed

    try:
        healed = asyncio.run(scenario())
    finally:
        recogniser.close()
    assert overlap(healed, PHRASE) >= 4


def test_48_khz_becomes_16_khz_without_what_16_khz_cannot_carry():
    seconds = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    voice = (8000 * np.sin(2 * np.pi * 1000 * seconds)).astype(np.int16)
    whistle = (8000 * np.sin(2 * np.pi * 12000 * seconds)).astype(np.int16)  # would alias to 4 kHz
    assert len(to_16k(voice)) == 16000
    assert np.abs(to_16k(voice)[100:-100]).max() > 7000
    assert np.abs(to_16k(whistle)[100:-100]).max() < 200
