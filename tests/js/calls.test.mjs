/**
 * The page and the gateway's call record: the provider's call id is reported after "connected" (never
 * before it), the time left shows in a call's last minute, and a call the server ended says why.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { callIdFromLocation, clock, endReasonWords } from '../../static/speech/call-record.js';
import { SpeechStore } from '../../static/speech/speech-store.js';
import { scriptedTransports } from './fake-transport.mjs';

const CALL = {
  id: '6f1c0000-0000-4000-8000-000000000001',
  ref: 'signed-ref',
  report_url: '/api/v1/calls/report',
  limits: { max_call_seconds: 1800, idle_seconds: 300 },
};

function payload(call = CALL) {
  return {
    provider: 'local', model: 'local-echo', voice: 'verse', turn_mode: 'voice_activity',
    client_secret: { value: 'ek_x', expires_at: 1767225600 },
    webrtc: { url: 'https://provider.test/v1/realtime/calls', data_channel: 'oai-events', codecs: ['opus'] },
    session: {}, call,
  };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), {
  status, headers: { 'Content-Type': 'application/json' },
});

const stores = []; // hung up after each test: a call's limit timer must not outlive it
const settle = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** A store whose fetch answers by path: `routes[path]` is a function (request) => Response or a Promise. */
function setUp({ session = payload(), routes = {} } = {}) {
  const requests = [];
  globalThis.fetch = async (url, init = {}) => {
    const request = { url, method: init.method || 'GET', body: init.body && JSON.parse(init.body) };
    requests.push(request);
    if (url === '/realtime_session') return json(session);
    if (url === '/telemetry') return new Response(null, { status: 204 });
    const route = routes[url];
    return route ? route(request) : json({ error: { code: 'not_found', message: 'no' } }, 404);
  };
  const media = { getUserMedia: async () => ({ getTracks: () => [], getAudioTracks: () => [{ stop() {} }] }) };
  const log = { debug() {}, info() {}, warn() {}, error() {} };
  const { createTransport, made } = scriptedTransports();
  const store = new SpeechStore({
    sessionUrl: '/realtime_session', telemetryUrl: '/telemetry', callsUrl: '/api/v1/calls', createTransport,
    log, media,
  });
  stores.push(store);
  const toasts = [];
  store.addEventListener('toast', (event) => toasts.push(event.detail));
  const telemetry = () => requests.filter((r) => r.url === '/telemetry').map((r) => r.body);
  const reports = () => requests.filter((r) => r.url === CALL.report_url);
  return { store, made, requests, toasts, telemetry, reports };
}

beforeEach(() => {
  globalThis.document = { cookie: 'csrftoken=tok' };
  globalThis.location = { href: 'http://gateway.test/', origin: 'http://gateway.test' };
});

afterEach(() => {
  for (const store of stores.splice(0)) store.hangUp();
  delete globalThis.document;
  delete globalThis.location;
  delete globalThis.fetch;
});

test('the provider call id is reported with the signed reference once connected, never before', async () => {
  let answer;
  const t = setUp({ routes: { [CALL.report_url]: () => new Promise((resolve) => { answer = resolve; }) } });
  await t.store.connect();
  assert.equal(t.store.state.status, 'connected'); // while the report is still unanswered
  assert.deepEqual(t.reports().map((r) => r.body), [{ ref: 'signed-ref', provider_call_id: 'rtc_fake1' }]);
  answer(json({ id: CALL.id, status: 'active' }));
});

test('a report that comes before the call is recorded is tried again', async () => {
  let tries = 0;
  const t = setUp({ routes: { [CALL.report_url]: () => (++tries === 1
    ? json({ error: { code: 'call_not_found', message: 'no' } }, 404)
    : json({ id: CALL.id, status: 'active' })) } });
  await t.store.connect();
  while (tries < 2) await settle(50);
  await settle(20);
  assert.equal(t.reports().length, 2);
});

test('a refused report is not tried again and leaves the call up', async () => {
  const t = setUp({ routes: { [CALL.report_url]: () => json({ error: { code: 'call_already_reported', message: 'no' } }, 409) } });
  await t.store.connect();
  await settle(400);
  assert.equal(t.reports().length, 1);
  assert.equal(t.store.state.status, 'connected');
});

test('unified mode reports nothing: the gateway learned the call id itself', async () => {
  const session = { ...payload({ ...CALL, report_url: null }), client_secret: null };
  const t = setUp({ session });
  await t.store.connect();
  await settle(10);
  assert.equal(t.reports().length, 0);
});

test("the time left shows in a call's last minute and goes with the call", async () => {
  const t = setUp({ session: payload({ ...CALL, limits: { max_call_seconds: 60, idle_seconds: null } }) });
  await t.store.connect();
  await settle(5);
  assert.match(t.store.state.remaining, /^(1:00|0:59)$/);
  t.store.hangUp();
  assert.equal(t.store.state.remaining, '');
});

test('a long call shows no time left yet', async () => {
  const t = setUp();
  await t.store.connect();
  await settle(5);
  assert.equal(t.store.state.remaining, '');
  t.store.hangUp();
});

test('a call the server ended says why, in words, and is no failure', async () => {
  const ended = { id: CALL.id, status: 'ended', end_reason: 'time_limit', end_reason_text: 'Longest call reached' };
  let reads = 0;
  const t = setUp({
    session: payload({ ...CALL, limits: { max_call_seconds: 180, idle_seconds: 300 } }),
    routes: { [`/api/v1/calls/${CALL.id}`]: () => json(++reads === 1 ? { ...ended, status: 'active', end_reason: '' } : ended) },
  });
  await t.store.connect();
  t.made[0].emit('connection-lost');
  assert.equal(t.store.state.status, 'idle');
  assert.equal(t.made[0].closed, true);
  while (!t.store.state.notice) await settle(20);
  assert.equal(t.store.state.notice, 'The call reached its time limit of 3 minutes.');
  assert.deepEqual(t.toasts, [{ title: 'Call ended', message: 'The call reached its time limit of 3 minutes.' }]);
  assert.deepEqual(t.telemetry(), [{ outcome: 'connected', connect_ms: t.store.state.connectMs }]);
  await t.store.connect();
  assert.equal(t.store.state.notice, '', 'a new call clears the last notice');
});

test('a lost call whose record cannot be read is a lost connection', async () => {
  const t = setUp({ routes: { [`/api/v1/calls/${CALL.id}`]: () => json({ error: { code: 'not_authenticated', message: 'no' } }, 401) } });
  await t.store.connect();
  t.made[0].emit('connection-lost');
  while (t.store.state.status !== 'failed') await settle(10);
  assert.deepEqual(t.toasts, [{ title: 'Connection lost', message: 'The connection to the provider was lost.' }]);
  assert.deepEqual(t.telemetry().at(-1), { outcome: 'failed', stage: 'ice' });
});

test("the provider's call id is read from Location, and only in the provider's format", () => {
  assert.equal(callIdFromLocation('/v1/realtime/calls/rtc_abc-1_2'), 'rtc_abc-1_2');
  assert.equal(callIdFromLocation('https://api.openai.com/v1/realtime/calls/rtc_x/'), 'rtc_x');
  for (const hostile of [null, '', '/v1/realtime/calls/', '/calls/evil', '/calls/rtc_a b', '/calls/rtc_<script>']) {
    assert.equal(callIdFromLocation(hostile), '');
  }
});

test('end reasons and the time left read as words', () => {
  assert.equal(endReasonWords({ end_reason: 'idle' }, { idle_seconds: 45 }), 'The call was ended after 45 seconds without speech.');
  assert.equal(endReasonWords({ end_reason: 'budget' }), "This month's call budget is spent.");
  assert.equal(endReasonWords({ end_reason: 'new_reason', end_reason_text: 'Something new' }), 'Something new');
  assert.equal(clock(59.2), '1:00');
  assert.equal(clock(0), '0:00');
  assert.equal(clock(125), '2:05');
});
