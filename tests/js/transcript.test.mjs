import assert from 'node:assert/strict';
import { test } from 'node:test';

import { addTypedMessage, applyEvent } from '../../static/speech/transcript.js';

const fold = (events, entries = []) => events.reduce(applyEvent, entries);

test('assistant deltas build one entry that the done event settles', () => {
  const entries = fold([
    { type: 'transcript.delta', role: 'assistant', id: 'a1', text: 'Hel' },
    { type: 'transcript.delta', role: 'assistant', id: 'a1', text: 'lo' },
  ]);
  assert.deepEqual(entries, [{ id: 'a1', role: 'assistant', text: 'Hello', pending: true }]);
  const done = applyEvent(entries, { type: 'transcript.done', role: 'assistant', id: 'a1', text: 'Hello!' });
  assert.deepEqual(done, [{ id: 'a1', role: 'assistant', text: 'Hello!', pending: false }]);
});

test("the user's item holds its place before a late transcription", () => {
  const entries = fold([
    { type: 'transcript.started', role: 'user', id: 'u1' },
    { type: 'transcript.delta', role: 'assistant', id: 'a1', text: 'Hi' },
    { type: 'transcript.delta', role: 'user', id: 'u1', text: 'Hey' },
  ]);
  assert.deepEqual(entries.map((e) => [e.id, e.role, e.text, e.pending]), [
    ['u1', 'user', 'Hey', true],
    ['a1', 'assistant', 'Hi', true],
  ]);
  const done = applyEvent(entries, { type: 'transcript.done', role: 'user', id: 'u1', text: 'Hey there' });
  assert.deepEqual(done[0], { id: 'u1', role: 'user', text: 'Hey there', pending: false });
});

test('a second started event keeps the text already there', () => {
  const entries = fold([
    { type: 'transcript.delta', role: 'user', id: 'u1', text: 'Hey' },
    { type: 'transcript.started', role: 'user', id: 'u1' },
  ]);
  assert.equal(entries[0].text, 'Hey');
});

test('a failed transcription is said plainly', () => {
  const entries = fold([{ type: 'transcript.failed', role: 'user', id: 'u1' }]);
  assert.deepEqual(entries, [{ id: 'u1', role: 'user', text: '(not transcribed)', pending: false }]);
});

test('other events change nothing', () => {
  const entries = fold([{ type: 'transcript.delta', role: 'assistant', id: 't1', text: 'ok' }]);
  assert.equal(applyEvent(entries, { type: 'user.speech_started' }), entries);
  assert.equal(applyEvent(entries, { type: 'assistant.speaking', speaking: true }), entries);
});

test('typed messages are appended as settled user entries', () => {
  assert.deepEqual(addTypedMessage([], 'typed-1', 'hi'), [{ id: 'typed-1', role: 'user', text: 'hi', pending: false }]);
});
