import assert from 'node:assert/strict';
import { test } from 'node:test';

import { clientEvents, normalise } from '../../static/speech/events/openai.js';
import { applyEvent } from '../../static/speech/transcript.js';

const fold = (events) => events.map(normalise).filter(Boolean).reduce(applyEvent, []);

test('the session and its turn detection', () => {
  const created = { type: 'session.created', session: { audio: { input: { turn_detection: { type: 'semantic_vad' } } } } };
  assert.deepEqual(normalise(created), { type: 'session.started', turnDetection: { type: 'semantic_vad' } });
  assert.deepEqual(normalise({ type: 'session.created', session: {} }), { type: 'session.started', turnDetection: null });
});

test('speech and playback', () => {
  assert.deepEqual(normalise({ type: 'input_audio_buffer.speech_started' }), { type: 'user.speech_started' });
  assert.deepEqual(normalise({ type: 'input_audio_buffer.speech_stopped' }), { type: 'user.speech_stopped' });
  assert.deepEqual(normalise({ type: 'output_audio_buffer.started' }), { type: 'assistant.speaking', speaking: true });
  for (const type of ['output_audio_buffer.stopped', 'output_audio_buffer.cleared']) {
    assert.deepEqual(normalise({ type }), { type: 'assistant.speaking', speaking: false });
  }
});

test("the assistant's audio transcript and text", () => {
  assert.deepEqual(
    normalise({ type: 'response.output_audio_transcript.delta', item_id: 'a1', delta: 'Hel' }),
    { type: 'transcript.delta', role: 'assistant', id: 'a1', text: 'Hel' },
  );
  assert.deepEqual(
    normalise({ type: 'response.output_audio_transcript.done', item_id: 'a1', transcript: 'Hello' }),
    { type: 'transcript.done', role: 'assistant', id: 'a1', text: 'Hello' },
  );
  assert.deepEqual(
    normalise({ type: 'response.output_text.done', item_id: 't1', text: 'ok' }),
    { type: 'transcript.done', role: 'assistant', id: 't1', text: 'ok' },
  );
});

test("the user's audio item holds its place, then its transcription fills it", () => {
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
  assert.deepEqual(
    normalise({ type: 'conversation.item.input_audio_transcription.failed', item_id: 'u1' }),
    { type: 'transcript.failed', role: 'user', id: 'u1' },
  );
});

test('a typed item holds no place (the store adds typed messages itself)', () => {
  assert.equal(normalise({ type: 'conversation.item.added', item: { role: 'user', content: [{ type: 'input_text' }] } }), null);
  assert.equal(normalise({ type: 'conversation.item.added', item: { role: 'assistant', content: [] } }), null);
});

test('errors and failed responses', () => {
  assert.deepEqual(
    normalise({ type: 'error', error: { type: 'invalid_request_error', code: 'invalid_value', message: 'Bad voice.' } }),
    { type: 'error', message: 'Bad voice.', code: 'invalid_value' },
  );
  assert.deepEqual(normalise({ type: 'error' }), { type: 'error', message: 'The provider reported an error.', code: '' });
  const failed = { type: 'response.done', response: { status: 'failed', status_details: { error: { code: 'model_not_found' } } } };
  assert.deepEqual(normalise(failed), { type: 'response.failed', message: 'model_not_found', code: 'model_not_found' });
  assert.equal(normalise({ type: 'response.done', response: { status: 'completed' } }), null);
  assert.equal(normalise({ type: 'response.done', response: { status: 'cancelled' } }), null);
});

test('events the page does not use translate to nothing', () => {
  for (const type of ['rate_limits.updated', 'response.created', 'session.updated', 'input_audio_buffer.committed']) {
    assert.equal(normalise({ type }), null);
  }
  assert.equal(normalise(null), null);
});

test('client events in the GA shapes', () => {
  assert.deepEqual(clientEvents.text('hi'), [
    { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } },
    { type: 'response.create' },
  ]);
  assert.deepEqual(clientEvents.startTalking(), [{ type: 'input_audio_buffer.clear' }]);
  assert.deepEqual(clientEvents.stopTalking(), [{ type: 'input_audio_buffer.commit' }, { type: 'response.create' }]);
  assert.deepEqual(clientEvents.cancel(), [{ type: 'response.cancel' }, { type: 'output_audio_buffer.clear' }]);
  assert.deepEqual(clientEvents.turnDetection(null), [
    { type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: null } } } },
  ]);
});
