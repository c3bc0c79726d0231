/**
 * The speech store over the scripted fake transport: no browser, no WebRTC. Node provides fetch's
 * Response, EventTarget, CustomEvent and performance; the page's cookie, location, fetch and
 * microphone are small fakes below.
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { SpeechStore } from '../../static/speech/speech-store.js';
import { scriptedTransports } from './fake-transport.mjs';

const SECRET = 'ek_test_secret_123';

function payload(change = {}) {
  return {
    provider: 'local',
    model: 'local-echo',
    voice: 'verse',
    turn_mode: 'voice_activity',
    client_secret: { value: SECRET, expires_at: 1767225600 },
    webrtc: { url: 'https://provider.test/v1/realtime/calls', data_channel: 'oai-events', codecs: ['opus'] },
    session: { type: 'realtime' },
    ...change,
  };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), {
  status, headers: { 'Content-Type': 'application/json' },
});

class FakeTrack {
  enabled = true;
  readyState = 'live';
  stop() { this.readyState = 'ended'; }
}

class FakeStream {
  track = new FakeTrack();
  getTracks() { return [this.track]; }
  getAudioTracks() { return [this.track]; }
}

/** What a test needs: a store, its fakes, and what they saw. */
function setUp({ sessions = [payload()], transports = [], microphone = 'ok', attempts = 3 } = {}) {
  const requests = [];
  const pending = [];
  globalThis.fetch = async (url, init = {}) => {
    requests.push({ url, method: init.method, headers: new Headers(init.headers), body: init.body });
    if (url.endsWith('/telemetry')) return new Response(null, { status: 204 });
    const next = sessions.shift();
    if (next === 'pending') return new Promise((resolve) => pending.push(() => resolve(json(payload()))));
    return next?.error ? json(next, next.status) : json(next);
  };
  const streams = [];
  const media = {
    getUserMedia: async (constraints) => {
      if (microphone !== 'ok') throw Object.assign(new Error('Permission denied'), { name: 'NotAllowedError' });
      const stream = new FakeStream();
      stream.constraints = constraints;
      streams.push(stream);
      return stream;
    },
  };
  const logged = [];
  const log = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (line) => logged.push([level, line])]));
  const { createTransport, made } = scriptedTransports(...transports);
  const store = new SpeechStore({
    sessionUrl: '/realtime_session',
    telemetryUrl: '/telemetry',
    negotiationTimeoutMs: 50,
    negotiationAttempts: attempts,
    createTransport,
    log,
    media,
  });
  const toasts = [];
  const changes = [];
  const remoteStreams = [];
  store.addEventListener('toast', (event) => toasts.push(event.detail));
  store.addEventListener('change', (event) => changes.push(event.detail));
  store.addEventListener('remote-stream', (event) => remoteStreams.push(event.detail));
  const sessionPosts = () => requests.filter((r) => r.url === '/realtime_session');
  const telemetry = () => requests.filter((r) => r.url === '/telemetry').map((r) => JSON.parse(r.body));
  const release = () => pending.splice(0).forEach((resolve) => resolve());
  return { store, made, streams, toasts, changes, remoteStreams, logged, sessionPosts, telemetry, release };
}

async function connected(options) {
  const t = setUp(options);
  await t.store.connect();
  assert.equal(t.store.state.status, 'connected');
  return t;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

beforeEach(() => {
  globalThis.document = { cookie: 'csrftoken=tok%20en' };
  globalThis.location = { href: 'http://gateway.test/', origin: 'http://gateway.test' };
});

afterEach(() => {
  delete globalThis.document;
  delete globalThis.location;
  delete globalThis.fetch;
});

test('connect mints a session, opens the microphone and hands its track to the transport', async () => {
  const t = setUp();
  const connecting = t.store.connect({ voice: 'cedar' });
  assert.equal(t.store.state.status, 'connecting');
  await connecting;
  const [post] = t.sessionPosts();
  assert.equal(post.method, 'POST');
  assert.equal(post.headers.get('X-CSRFToken'), 'tok en');
  assert.deepEqual(JSON.parse(post.body), { voice: 'cedar' });
  assert.equal(t.made.length, 1);
  assert.equal(t.made[0].connectOptions.microphone, t.streams[0].track);
  assert.equal(t.made[0].connectOptions.timeoutMs, 50);
  assert.equal(t.made[0].sessionHadSecret, true);
  assert.deepEqual(t.streams[0].constraints, { audio: { echoCancellation: true, noiseSuppression: true } });
  const state = t.store.state;
  assert.equal(state.status, 'connected');
  assert.equal(typeof state.connectMs, 'number');
  assert.deepEqual(t.telemetry(), [{ outcome: 'connected', connect_ms: state.connectMs }]);
  assert.deepEqual(t.toasts, []);
});

test('a chosen microphone is asked for on the next connect', async () => {
  const t = setUp();
  t.store.setMicrophoneDevice('mic-2');
  await t.store.connect();
  assert.deepEqual(t.streams[0].constraints.audio.deviceId, { exact: 'mic-2' });
});

test('connect while connecting or connected does nothing', async () => {
  const t = await connected();
  await t.store.connect();
  assert.equal(t.sessionPosts().length, 1);
  assert.equal(t.made.length, 1);
});

test('a negotiation timeout is retried with a fresh session', async () => {
  const t = setUp({ sessions: [payload(), payload()], transports: ['timeout', 'ok'] });
  await t.store.connect();
  assert.equal(t.sessionPosts().length, 2);
  assert.equal(t.made.length, 2);
  assert.equal(t.made[0].closed, true);
  assert.equal(t.made[1].closed, false);
  assert.equal(t.store.state.status, 'connected');
  assert.ok(t.changes.some((state) => state.detail === 'Retrying (2/3)…'));
  assert.ok(t.logged.some(([level, line]) => level === 'warn'
    && line.includes('negotiation attempt 1 timed out; retrying with a fresh session')));
  assert.equal(t.streams.length, 1, 'the microphone is opened once');
  assert.equal(t.streams[0].track.readyState, 'live');
});

test('negotiation that keeps timing out ends in a toast', async () => {
  const t = setUp({ sessions: [payload(), payload()], transports: ['timeout', 'timeout'], attempts: 2 });
  await t.store.connect();
  assert.equal(t.sessionPosts().length, 2);
  assert.equal(t.store.state.status, 'failed');
  assert.equal(t.toasts.length, 1);
  assert.equal(t.toasts[0].title, 'WebRTC negotiation timed out');
  assert.deepEqual(t.telemetry(), [{ outcome: 'failed', stage: 'negotiation' }]);
  assert.equal(t.streams[0].track.readyState, 'ended');
});

test('hanging up while the session is being minted leaks nothing', async () => {
  const t = setUp({ sessions: ['pending'] });
  const connecting = t.store.connect();
  await settle();
  t.store.hangUp();
  assert.equal(t.store.state.status, 'idle');
  t.release();
  await connecting;
  assert.equal(t.store.state.status, 'idle');
  assert.equal(t.made.length, 0, 'no transport for a call hung up');
  assert.equal(t.streams[0].track.readyState, 'ended');
  assert.deepEqual(t.toasts, []);
  assert.deepEqual(t.telemetry(), []);
});

test('hanging up while the transport negotiates closes it and leaves the page idle', async () => {
  const t = setUp({ transports: ['hang'] });
  const connecting = t.store.connect();
  while (!t.made[0]?.calls.length) await settle();
  t.store.hangUp();
  await connecting;
  assert.equal(t.made[0].closed, true);
  assert.equal(t.streams[0].track.readyState, 'ended');
  assert.equal(t.store.state.status, 'idle');
  assert.equal(t.sessionPosts().length, 1, 'no retry after a hang-up');
  assert.deepEqual(t.toasts, []);
  t.made[0].emit('transcript.delta', { role: 'assistant', id: 'a1', text: 'late' });
  assert.deepEqual(t.store.state.transcript, []);
});

test('hang-up stops the microphone and the page can connect again', async () => {
  const t = await connected({ sessions: [payload(), payload()] });
  const microphones = [];
  t.store.addEventListener('microphone', (event) => microphones.push(event.detail));
  t.store.hangUp();
  assert.equal(t.store.state.status, 'idle');
  assert.equal(t.made[0].closed, true);
  assert.equal(t.streams[0].track.readyState, 'ended');
  assert.deepEqual(microphones, [null]);
  await t.store.connect();
  assert.equal(t.store.state.status, 'connected');
  assert.equal(t.made.length, 2);
});

test('mute disables the microphone track and keeps the call up', async () => {
  const t = await connected();
  t.store.setMuted(true);
  assert.equal(t.streams[0].track.enabled, false);
  assert.equal(t.store.state.muted, true);
  assert.equal(t.made[0].closed, false);
  t.store.setMuted(false);
  assert.equal(t.streams[0].track.enabled, true);
  assert.equal(t.store.state.muted, false);
});

test('muted before connecting, the new microphone starts muted', async () => {
  const t = setUp();
  t.store.setMuted(true);
  await t.store.connect();
  assert.equal(t.streams[0].track.enabled, false);
});

test('the turn mode comes from the session, and connecting sends no turn detection', async () => {
  const t = setUp();
  t.store.showTurnMode('push_to_talk'); // the saved preference, until the server says
  assert.equal(t.store.state.turnMode, 'push_to_talk');
  await t.store.connect();
  assert.equal(t.store.state.turnMode, 'voice_activity');
  t.made[0].emit('session.started', { turnDetection: { type: 'server_vad' } });
  assert.deepEqual(t.made[0].actions, []);
  t.store.showTurnMode('push_to_talk'); // a late preference does not touch a live call
  assert.equal(t.store.state.turnMode, 'voice_activity');
});

test('push-to-talk: pressing starts a turn, letting go sends it', async () => {
  const t = await connected({ sessions: [payload({ turn_mode: 'push_to_talk' })] });
  assert.equal(t.store.state.turnMode, 'push_to_talk');
  t.store.startTalking();
  assert.equal(t.store.state.talking, true);
  assert.deepEqual(t.made[0].actions, [['startTalking']]);
  t.store.stopTalking();
  assert.equal(t.store.state.talking, false);
  assert.deepEqual(t.made[0].actions, [['startTalking'], ['stopTalking']]);
  t.store.stopTalking(); // a second pointerleave sends nothing
  assert.deepEqual(t.made[0].actions, [['startTalking'], ['stopTalking']]);
});

test('push-to-talk does nothing in voice activity mode or without a call', async () => {
  const idle = setUp();
  idle.store.showTurnMode('push_to_talk');
  idle.store.startTalking();
  assert.equal(idle.store.state.talking, false);
  const t = await connected();
  t.store.startTalking();
  t.store.stopTalking();
  assert.equal(t.store.state.talking, false);
  assert.deepEqual(t.made[0].actions, []);
});

test("switching the turn mode during a call switches the live call, as the user's action", async () => {
  const t = await connected();
  t.store.setTurnMode('push_to_talk');
  assert.equal(t.store.state.turnMode, 'push_to_talk');
  assert.deepEqual(t.made[0].actions, [['setTurnMode', 'push_to_talk']]);
  t.store.setTurnMode('push_to_talk'); // already so
  t.store.setTurnMode('voice_activity');
  assert.deepEqual(t.made[0].actions, [['setTurnMode', 'push_to_talk'], ['setTurnMode', 'voice_activity']]);
});

test('a turn mode chosen while connecting applies once the call is up', async () => {
  const t = setUp({ sessions: ['pending'] });
  const connecting = t.store.connect();
  await settle();
  t.store.setTurnMode('push_to_talk'); // the session being minted still has voice activity
  t.release();
  await connecting;
  assert.equal(t.store.state.status, 'connected');
  assert.equal(t.store.state.turnMode, 'push_to_talk');
  assert.deepEqual(t.made[0].actions, [['setTurnMode', 'push_to_talk']]);
});

test('transcript deltas fold into one entry per item, for the user and the assistant', async () => {
  const t = await connected();
  const fake = t.made[0];
  fake.emit('transcript.started', { role: 'user', id: 'u1' });
  assert.deepEqual(t.store.state.transcript, [{ id: 'u1', role: 'user', text: '…', pending: true }]);
  fake.emit('transcript.delta', { role: 'assistant', id: 'a1', text: 'Echo ' });
  fake.emit('transcript.delta', { role: 'user', id: 'u1', text: 'Hel' });
  fake.emit('transcript.delta', { role: 'assistant', id: 'a1', text: 'of' });
  fake.emit('transcript.delta', { role: 'user', id: 'u1', text: 'lo' });
  fake.emit('transcript.done', { role: 'user', id: 'u1', text: 'Hello.' });
  assert.deepEqual(t.store.state.transcript, [
    { id: 'u1', role: 'user', text: 'Hello.', pending: false },
    { id: 'a1', role: 'assistant', text: 'Echo of', pending: true },
  ]);
  fake.emit('transcript.done', { role: 'assistant', id: 'a1', text: 'Echo of Hello.' });
  assert.deepEqual(t.store.state.transcript.map((e) => [e.text, e.pending]), [['Hello.', false], ['Echo of Hello.', false]]);
});

test('a typed message is sent and shown as a settled user entry', async () => {
  const t = await connected();
  assert.equal(t.store.sendText('  Testing one two three  '), true);
  assert.deepEqual(t.made[0].actions, [['sendText', 'Testing one two three']]);
  assert.deepEqual(t.store.state.transcript, [{ id: 'typed-1', role: 'user', text: 'Testing one two three', pending: false }]);
  assert.equal(t.store.sendText('   '), false);
  t.store.hangUp();
  assert.equal(t.store.sendText('too late'), false);
  assert.equal(t.store.state.transcript.length, 1);
});

test('speech and playback events drive listening and speaking', async () => {
  const t = await connected();
  const fake = t.made[0];
  fake.emit('user.speech_started');
  assert.equal(t.store.state.listening, true);
  fake.emit('user.speech_stopped');
  assert.equal(t.store.state.listening, false);
  fake.emit('assistant.speaking', { speaking: true });
  assert.equal(t.store.state.speaking, true);
  fake.emit('assistant.speaking', { speaking: false });
  assert.equal(t.store.state.speaking, false);
  const stream = { id: 'remote' };
  fake.emit('remote-stream', { stream });
  assert.deepEqual(t.remoteStreams, [stream]);
});

test('a session error is a toast, and the page can try again', async () => {
  const refusal = { status: 503, error: { code: 'provider_unavailable', message: 'No provider credential is configured.' } };
  const t = setUp({ sessions: [refusal, payload()] });
  await t.store.connect();
  assert.equal(t.store.state.status, 'failed');
  assert.deepEqual(t.toasts, [{ title: 'Realtime session error', message: 'No provider credential is configured.' }]);
  assert.deepEqual(t.telemetry(), [{ outcome: 'failed', stage: 'session' }]);
  assert.equal(t.made.length, 0);
  await settle();
  assert.equal(t.streams[0].track.readyState, 'ended', 'the microphone that opened meanwhile is closed');
  await t.store.connect();
  assert.equal(t.store.state.status, 'connected');
});

test('a refused microphone is a toast', async () => {
  const t = setUp({ microphone: 'denied' });
  await t.store.connect();
  assert.equal(t.store.state.status, 'failed');
  assert.deepEqual(t.toasts, [{ title: 'Microphone error', message: 'Permission denied' }]);
  assert.deepEqual(t.telemetry(), [{ outcome: 'failed', stage: 'media' }]);
});

test('a failed negotiation is a toast and is not retried', async () => {
  const t = setUp({ transports: ['fail'] });
  await t.store.connect();
  assert.equal(t.store.state.status, 'failed');
  assert.equal(t.sessionPosts().length, 1);
  assert.deepEqual(t.toasts, [{ title: 'WebRTC negotiation failed', message: 'The provider refused the call: HTTP 403' }]);
  assert.deepEqual(t.telemetry(), [{ outcome: 'failed', stage: 'negotiation' }]);
  assert.equal(t.made[0].closed, true);
});

test('a lost connection ends the call with a toast', async () => {
  const t = await connected();
  t.made[0].emit('connection-lost');
  assert.equal(t.store.state.status, 'failed');
  assert.deepEqual(t.toasts, [{ title: 'Connection lost', message: 'The connection to the provider was lost.' }]);
  assert.deepEqual(t.telemetry().at(-1), { outcome: 'failed', stage: 'ice' });
  assert.equal(t.made[0].closed, true);
  assert.equal(t.streams[0].track.readyState, 'ended');
});

test("the provider's error event and a failed response are toasts; the call stays up", async () => {
  const t = await connected();
  t.made[0].emit('error', { message: 'Invalid value for voice.', code: 'invalid_value' });
  t.made[0].emit('response.failed', { message: 'The model gpt-x does not exist.', code: 'model_not_found' });
  assert.deepEqual(t.toasts, [
    { title: 'Realtime error', message: 'Invalid value for voice.' },
    { title: 'Response failed', message: 'The model gpt-x does not exist.' },
  ]);
  assert.equal(t.store.state.status, 'connected');
});

test('the client secret never reaches the state or any event', async () => {
  const t = await connected();
  t.made[0].emit('session.started', { turnDetection: null });
  assert.ok(!JSON.stringify(t.changes).includes(SECRET));
  assert.ok(!JSON.stringify(t.toasts).includes(SECRET));
  assert.ok(!JSON.stringify(t.logged).includes(SECRET));
  assert.ok(!JSON.stringify(t.store.state).includes(SECRET));
});
