/**
 * Tool activity on the chat page: the provider's function-call and MCP events become neutral 'tool'
 * events (events/openai.js), which the transcript folds into one line per run, in the place of the
 * run's first event ("check_order(order=123)…", then ": done" or ": failed (code)").
 */

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { endReasonWords } from '../../static/speech/call-record.js';
import { normalise } from '../../static/speech/events/openai.js';
import { SpeechStore } from '../../static/speech/speech-store.js';
import { applyEvent, argumentSummary, toolLine } from '../../static/speech/transcript.js';
import { TRANSPORT_EVENTS } from '../../static/speech/transports/transport.js';
import { scriptedTransports } from './fake-transport.mjs';

const fold = (events, entries = []) => events.map(normalise).filter(Boolean).reduce(applyEvent, entries);
const lines = (entries) => entries.map((e) => [e.role, e.text, e.pending]);

const CALL_ITEM = { id: 'item_f1', type: 'function_call', call_id: 'call_1', name: 'check_order', arguments: '' };

/** The local provider's function call, in its order (docs/local-provider.md, "Events"). */
const functionCall = (args = '{"order":123}') => [
  { type: 'response.created', response: { id: 'resp_1' } },
  { type: 'response.output_item.added', response_id: 'resp_1', output_index: 0, item: CALL_ITEM },
  { type: 'conversation.item.added', item: CALL_ITEM },
  { type: 'response.function_call_arguments.delta', call_id: 'call_1', item_id: 'item_f1', delta: args.slice(0, 5) },
  { type: 'response.function_call_arguments.done', call_id: 'call_1', item_id: 'item_f1', name: 'check_order', arguments: args },
  { type: 'response.output_item.done', item: { ...CALL_ITEM, arguments: args, status: 'completed' } },
  { type: 'conversation.item.done', item: { ...CALL_ITEM, arguments: args, status: 'completed' } },
  { type: 'response.done', response: { status: 'completed', output: [{ ...CALL_ITEM, arguments: args }] } },
];

/** The supervisor's answer as every participant sees it: the output item, then a spoken answer. */
const output = (text, event = 'conversation.item.added') => [
  { type: event, item: { id: 'item_o1', type: 'function_call_output', call_id: 'call_1', output: text } },
];
const answer = (text) => [
  { type: 'response.output_audio_transcript.delta', item_id: 'a2', delta: text },
  { type: 'response.output_audio_transcript.done', item_id: 'a2', transcript: text },
];

test('a function call runs, then is done once its output appears', () => {
  assert.deepEqual(normalise(functionCall()[1]), { type: 'tool', id: 'call_1', name: 'check_order', state: 'running' });
  assert.deepEqual(normalise(functionCall()[4]), {
    type: 'tool', id: 'call_1', name: 'check_order', arguments: { order: 123 }, state: 'running',
  });
  const running = fold(functionCall());
  assert.deepEqual(lines(running), [['tool', 'check_order(order=123)…', true]]);
  assert.deepEqual(running[0].tool, { name: 'check_order', arguments: { order: 123 }, state: 'running', error: '' });
  const done = fold([...output('{"status":"shipped"}'), ...answer('The check_order tool answered: shipped')], running);
  assert.deepEqual(lines(done), [
    ['tool', 'check_order(order=123): done', false],
    ['assistant', 'The check_order tool answered: shipped', false],
  ]);
});

test('an output carrying an error object fails the run, with its code', () => {
  for (const event of ['conversation.item.added', 'conversation.item.created', 'conversation.item.done']) {
    const entries = fold([...functionCall(), ...output('{"error":{"code":"webhook_timeout","message":"late"}}', event)]);
    assert.deepEqual(lines(entries), [['tool', 'check_order(order=123): failed (webhook_timeout)', false]], event);
    assert.equal(entries[0].tool.error, 'webhook_timeout');
  }
  // An error without a code, a bare string error: failed all the same.
  assert.deepEqual(normalise(output('{"error":"nope"}')[0]), { type: 'tool', id: 'call_1', state: 'failed', error: 'nope' });
  assert.deepEqual(normalise(output('{"error":{}}')[0]), { type: 'tool', id: 'call_1', state: 'failed', error: 'error' });
});

test('outputs that are no error are done: plain text, JSON without an error, a null error', () => {
  for (const text of ['It is 10:30.', '{"status":"ok"}', '[1,2]', '{"error":null}', '']) {
    assert.deepEqual(normalise(output(text)[0]), { type: 'tool', id: 'call_1', state: 'done' }, text);
  }
});

test('a settled run stays settled when a late item event of the call arrives', () => {
  const entries = fold([...functionCall(), ...output('{"ok":true}'), functionCall()[6]]);
  assert.deepEqual(lines(entries), [['tool', 'check_order(order=123): done', false]]);
});

test('the tool line keeps the place of the run among the transcript lines', () => {
  const entries = fold([
    { type: 'conversation.item.added', item: { id: 'u1', role: 'user', content: [{ type: 'input_audio' }] } },
    ...functionCall(),
    { type: 'conversation.item.input_audio_transcription.completed', item_id: 'u1', transcript: 'check order 123' },
    ...output('{"status":"shipped"}'),
    ...answer('Shipped.'),
  ]);
  assert.deepEqual(entries.map((e) => [e.id, e.role]), [['u1', 'user'], ['tool-call_1', 'tool'], ['a2', 'assistant']]);
});

test('arguments that are not JSON show as the model wrote them; long ones are cut short', () => {
  assert.deepEqual(fold(functionCall('order=12'))[0].tool.arguments, 'order=12');
  assert.equal(argumentSummary('x'.repeat(100)).length, 60);
  assert.equal(argumentSummary({ note: 'y'.repeat(100) }), `note=${'y'.repeat(23)}…`);
  assert.equal(argumentSummary({ a: 1, b: true, c: null, d: { e: [1] }, f: 'two words' }), 'a=1, b=true, c=null, d={"e":[1]}, f=two words');
  assert.equal(argumentSummary([1, 2]), '[1,2]');
  assert.equal(argumentSummary({}), '');
  assert.equal(toolLine({ name: '', arguments: null, state: 'failed', error: 'e'.repeat(80) }), `tool(): failed (${'e'.repeat(39)}…)`);
});

test('an output for a call the page never saw still shows, under a generic name', () => {
  assert.deepEqual(lines(fold(output('{"ok":1}'))), [['tool', 'tool(): done', false]]);
});

test('events without a call id, and items that are no tool, mean nothing', () => {
  assert.equal(normalise({ type: 'response.function_call_arguments.done', arguments: '{}' }), null);
  assert.equal(normalise({ type: 'response.output_item.added', item: { type: 'message', role: 'assistant' } }), null);
  assert.equal(normalise({ type: 'conversation.item.done', item: { type: 'message', role: 'user', content: [] } }), null);
  assert.equal(normalise({ type: 'response.output_item.added' }), null);
  assert.equal(normalise({ type: 'response.function_call_arguments.delta', call_id: 'call_1', delta: '{' }), null);
});

test('an MCP call: running, its arguments, then completed or failed', () => {
  const item = { id: 'mcp_1', type: 'mcp_call', server_label: 'crm', name: 'lookup', arguments: '' };
  const base = [
    { type: 'response.output_item.added', item },
    { type: 'response.mcp_call_arguments.done', item_id: 'mcp_1', arguments: '{"customer":"ada"}' },
    { type: 'response.mcp_call.in_progress', item_id: 'mcp_1' },
  ];
  assert.deepEqual(lines(fold(base)), [['tool', 'lookup(customer=ada)…', true]]);
  assert.deepEqual(lines(fold([...base, { type: 'response.mcp_call.completed', item_id: 'mcp_1' }])), [
    ['tool', 'lookup(customer=ada): done', false],
  ]);
  assert.deepEqual(lines(fold([...base, { type: 'response.mcp_call.failed', item_id: 'mcp_1' }])), [
    ['tool', 'lookup(customer=ada): failed', false],
  ]);
  const errored = { type: 'response.output_item.done', item: { ...item, error: { type: 'http_error', code: 'mcp_401' } } };
  assert.deepEqual(lines(fold([...base, errored])), [['tool', 'lookup(customer=ada): failed (mcp_401)', false]]);
  const answered = { type: 'response.output_item.done', item: { ...item, arguments: '{"customer":"ada"}', output: 'found' } };
  assert.deepEqual(lines(fold([...base, answered])), [['tool', 'lookup(customer=ada): done', false]]);
});

const stores = [];
afterEach(() => {
  for (const store of stores.splice(0)) store.hangUp();
  delete globalThis.fetch;
  delete globalThis.document;
  delete globalThis.location;
});

test('the store listens for tool events and keeps them in the transcript, after the typed message', async () => {
  assert.ok(TRANSPORT_EVENTS.includes('tool'));
  globalThis.document = { cookie: 'csrftoken=tok' };
  globalThis.location = { href: 'http://gateway.test/', origin: 'http://gateway.test' };
  const session = {
    provider: 'local', model: 'local-echo', voice: 'verse', turn_mode: 'voice_activity',
    client_secret: { value: 'ek_x', expires_at: 1767225600 },
    webrtc: { url: 'https://provider.test/v1/realtime/calls', data_channel: 'oai-events', codecs: ['opus'] },
    session: {},
  };
  globalThis.fetch = async (url) => (url === '/realtime_session'
    ? new Response(JSON.stringify(session), { headers: { 'Content-Type': 'application/json' } })
    : new Response(null, { status: 204 }));
  const media = { getUserMedia: async () => ({ getTracks: () => [], getAudioTracks: () => [{ stop() {} }] }) };
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const { createTransport, made } = scriptedTransports();
  const store = new SpeechStore({ sessionUrl: '/realtime_session', createTransport, log, media });
  stores.push(store);
  await store.connect();
  assert.equal(store.state.status, 'connected');
  assert.equal(store.sendText('check order order=123'), true);
  for (const event of [...functionCall(), ...output('{"error":{"code":"webhook_status","message":"500"}}')]) {
    const neutral = normalise(event);
    if (neutral) made[0].emit(neutral.type, neutral);
  }
  assert.deepEqual(lines(store.state.transcript), [
    ['user', 'check order order=123', false],
    ['tool', 'check_order(order=123): failed (webhook_status)', false],
  ]);
});

test('a call the agent ended with the end_call tool says so', () => {
  assert.equal(endReasonWords({ end_reason: 'agent_ended', end_reason_text: 'Ended by the agent (end_call tool)' }),
    'The assistant ended the call.');
});
