import assert from 'node:assert/strict';
import { test } from 'node:test';

import { addTypedMessage, applyEvent } from '../../static/speech/transcript.js';

const fold = (events, entries = []) => events.reduce(applyEvent, entries);

test('assistant deltas build one entry that the done event settles', () => {
  const entries = fold([
    { type: 'response.output_audio_transcript.delta', item_id: 'a1', delta: 'Hel' },
    { type: 'response.output_audio_transcript.delta', item_id: 'a1', delta: 'lo' },
  ]);
  assert.deepEqual(entries, [{ id: 'a1', role: 'assistant', text: 'Hello', pending: true }]);
  const done = applyEvent(entries, { type: 'response.output_audio_transcript.done', item_id: 'a1', transcript: 'Hello!' });
  assert.deepEqual(done, [{ id: 'a1', role: 'assistant', text: 'Hello!', pending: false }]);
});

test("the user's audio item holds its place before a late transcription", () => {
  const entries = fold([
    { type: 'conversation.item.added', item: { id: 'u1', role: 'user', content: [{ type: 'input_audio' }] } },
    { type: 'response.output_audio_transcript.delta', item_id: 'a1', delta: 'Hi' },
    { type: 'conversation.item.input_audio_transcription.delta', item_id: 'u1', delta: 'Hey' },
    { type: 'conversation.item.input_audio_transcription.completed', item_id: 'u1', transcript: 'Hey there' },
  ]);
  assert.deepEqual(entries.map((e) => [e.id, e.role, e.text, e.pending]), [
    ['u1', 'user', 'Hey there', false],
    ['a1', 'assistant', 'Hi', true],
  ]);
});

test('a failed transcription is said plainly', () => {
  const entries = fold([{ type: 'conversation.item.input_audio_transcription.failed', item_id: 'u1' }]);
  assert.equal(entries[0].text, '(not transcribed)');
});

test('text responses count too, and other events change nothing', () => {
  const entries = fold([{ type: 'response.output_text.delta', item_id: 't1', delta: 'ok' }]);
  assert.equal(entries[0].text, 'ok');
  assert.equal(applyEvent(entries, { type: 'rate_limits.updated' }), entries);
  assert.equal(applyEvent(entries, { type: 'conversation.item.added', item: { role: 'user', content: [{ type: 'input_text' }] } }), entries);
});

test('typed messages are appended as settled user entries', () => {
  assert.deepEqual(addTypedMessage([], 'typed-1', 'hi'), [{ id: 'typed-1', role: 'user', text: 'hi', pending: false }]);
});
