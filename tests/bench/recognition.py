"""The local model's speech recognition: its real-time factor and how well it hears, on this machine.

    python -m tests.bench.recognition

espeak-ng (voice en-us+m1, 120 words a minute) says each phrase; the audio goes through Opus as a call's
microphone does, then through the recogniser the calls use (pocketsphinx in its worker process).
RTF = recognition time / audio length (under 1 is faster than real time), timed from the event loop,
so it includes the hand-over to the worker process.
"""

import asyncio
import statistics
import time

from speech.local.audio import SAMPLE_RATE
from speech.local.transcription import Recogniser
from tests.speech.local.speech_samples import espeak_48k, overlap, through_opus

PHRASES = [
    "please check order one two three",
    "turn on the kitchen lights",
    "call my mother tomorrow morning",
    "what is the weather like today",
    "i would like to book a table for two people at seven",
    "the quick brown fox jumps over the lazy dog and runs into the forest before the night falls",
]
ROUNDS = 3


async def measure():
    recogniser = Recogniser()
    try:
        await recogniser.transcribe(through_opus(espeak_48k("warm up")))  # start the worker, load the model
        rows = []
        for phrase in PHRASES:
            audio = through_opus(espeak_48k(phrase))
            seconds = len(audio) / SAMPLE_RATE
            timings = []
            for _ in range(ROUNDS):
                started = time.perf_counter()
                heard = await recogniser.transcribe(audio)
                timings.append(time.perf_counter() - started)
            rows.append((phrase, seconds, min(timings), heard))
        return rows
    finally:
        recogniser.close()


def main():
    rows = asyncio.run(measure())
    print("| phrase | audio s | recognition s (best of 3) | RTF | words heard |")
    print("| --- | --- | --- | --- | --- |")
    for phrase, seconds, took, heard in rows:
        words = len(phrase.split())
        print(f"| {phrase} | {seconds:.2f} | {took:.3f} | {took / seconds:.3f} | {overlap(heard, phrase)}/{words}: "
              f"{heard!r} |")  # fmt: skip
    total_audio = sum(seconds for _, seconds, _, _ in rows)
    total_time = sum(took for _, _, took, _ in rows)
    print(f"\noverall RTF {total_time / total_audio:.3f} ({total_time:.2f} s for {total_audio:.1f} s of speech); "
          f"median RTF {statistics.median(took / seconds for _, seconds, took, _ in rows):.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
