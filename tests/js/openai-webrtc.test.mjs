/**
 * The OpenAI WebRTC transport over a small fake RTCPeerConnection: where the offer goes and with
 * which credentials, how negotiation fails, and what leaves the transport. The real peer
 * connection is the e2e suite's (tests/e2e, Chromium against aiortc).
 */

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { NegotiationError, NegotiationTimeout, TransportClosed } from '../../static/speech/transports/transport.js';
import { OpenAIWebRTCTransport } from '../../static/speech/transports/openai-webrtc.js';

const SECRET = 'ek_test_secret_123';

class FakeChannel extends EventTarget {
  readyState = 'connecting';
  sent = [];
  constructor(label) { super(); this.label = label; }
  send(data) { this.sent.push(JSON.parse(data)); }
  close() { this.readyState = 'closed'; }
  open() { this.readyState = 'open'; this.dispatchEvent(new Event('open')); }
  receive(data) { this.dispatchEvent(Object.assign(new Event('message'), { data: typeof data === 'string' ? data : JSON.stringify(data) })); }
}

class FakePeerConnection extends EventTarget {
  static last = null;
  connectionState = 'new';
  iceConnectionState = 'new';
  iceGatheringState = 'new';
  signalingState = 'stable';
  closed = false;
  constructor() { super(); FakePeerConnection.last = this; }
  addTransceiver() {
    const sender = { track: null, replaceTrack: async (track) => { sender.track = track; } };
    this.transceiver = { sender };
    return this.transceiver;
  }
  createDataChannel(label) { this.channel = new FakeChannel(label); return this.channel; }
  async createOffer() { return { type: 'offer', sdp: 'v=0 offer' }; }
  async setLocalDescription(description) {
    this.localDescription = description;
    this.iceGatheringState = 'complete';
  }
  async setRemoteDescription(description) {
    this.remoteDescription = description;
    setTimeout(() => {
      this.state('connected');
      this.channel.open();
    });
  }
  state(connectionState) {
    this.connectionState = connectionState;
    this.dispatchEvent(new Event('connectionstatechange'));
  }
  close() { this.closed = true; this.connectionState = 'closed'; }
}

function payload(change = {}) {
  return {
    client_secret: { value: SECRET, expires_at: 1767225600 },
    webrtc: { url: 'https://provider.test/v1/realtime/calls', data_channel: 'oai-events', codecs: ['opus'] },
    ...change,
  };
}

let requests;
let answer;

function silentLog() {
  const lines = [];
  const log = Object.fromEntries(['debug', 'info', 'warn', 'error'].map((level) => [level, (line) => lines.push([level, line])]));
  return { log, lines };
}

async function up(session = payload()) {
  const { log, lines } = silentLog();
  const transport = new OpenAIWebRTCTransport({ log });
  const events = [];
  for (const type of ['session.started', 'user.speech_started', 'transcript.delta', 'error', 'connection-lost', 'remote-stream']) {
    transport.addEventListener(type, (event) => events.push(event.detail));
  }
  const microphone = { kind: 'audio' };
  await transport.connect(session, { microphone, timeoutMs: 1000 });
  return { transport, pc: FakePeerConnection.last, events, lines, microphone };
}

beforeEach(() => {
  requests = [];
  answer = () => new Response('v=0 answer', { status: 201 });
  globalThis.RTCPeerConnection = FakePeerConnection;
  globalThis.document = { cookie: 'csrftoken=tok' };
  globalThis.location = { href: 'http://gateway.test/', origin: 'http://gateway.test' };
  globalThis.fetch = async (url, init) => {
    requests.push({ url, ...init, headers: new Headers(init.headers) });
    return answer(init);
  };
});

afterEach(() => {
  for (const name of ['RTCPeerConnection', 'document', 'location', 'fetch']) delete globalThis[name];
});

test('the offer goes to the provider with the client secret as bearer, and nothing of the page', async () => {
  const { pc, microphone } = await up();
  const [request] = requests;
  assert.equal(request.url, 'https://provider.test/v1/realtime/calls');
  assert.equal(request.body, 'v=0 offer');
  assert.equal(request.headers.get('Authorization'), `Bearer ${SECRET}`);
  assert.equal(request.headers.get('Content-Type'), 'application/sdp');
  assert.equal(request.headers.get('X-CSRFToken'), null);
  assert.equal(request.credentials, undefined);
  assert.deepEqual(pc.remoteDescription, { type: 'answer', sdp: 'v=0 answer' });
  assert.equal(pc.transceiver.sender.track, microphone);
  assert.equal(pc.channel.label, 'oai-events');
});

/** Gathers like Chromium: a first host candidate at once, the rest (TCP) much later, here never. */
class SlowGatheringPeerConnection extends FakePeerConnection {
  async setLocalDescription(description) {
    this.localDescription = description;
    this.iceGatheringState = 'gathering';
    setTimeout(() => {
      this.localDescription = { ...description, sdp: `${description.sdp}\r\na=candidate:1 1 udp 1 192.0.2.7 5000 typ host` };
      this.dispatchEvent(Object.assign(new Event('icecandidate'), { candidate: { address: '192.0.2.7' } }));
    });
  }
}

test('the offer goes out with its first candidate, not after gathering completes', async () => {
  globalThis.RTCPeerConnection = SlowGatheringPeerConnection;
  const started = performance.now();
  const { pc } = await up();
  assert.ok(performance.now() - started < 500, 'it did not wait for the gathering cap');
  assert.equal(pc.iceGatheringState, 'gathering');
  assert.match(requests[0].body, /a=candidate:1 1 udp 1 192\.0\.2\.7 5000 typ host/);
});

test("unified mode posts the offer to the gateway's relay with the page's credentials", async () => {
  await up(payload({ client_secret: null, webrtc: { url: '/api/v1/realtime_call', data_channel: 'oai-events' } }));
  const [request] = requests;
  assert.equal(request.url, '/api/v1/realtime_call');
  assert.equal(request.headers.get('Authorization'), null);
  assert.equal(request.headers.get('X-CSRFToken'), 'tok');
  assert.equal(request.credentials, 'same-origin');
});

test("the provider's refusal is a NegotiationError with its message", async () => {
  answer = () => new Response(JSON.stringify({ error: { message: 'Invalid client secret.' } }), { status: 401 });
  const transport = new OpenAIWebRTCTransport({ log: silentLog().log });
  const error = await transport.connect(payload(), { timeoutMs: 1000 }).catch((e) => e);
  assert.ok(error instanceof NegotiationError);
  assert.equal(error.message, 'The provider refused the call: Invalid client secret.');
  assert.equal(error.status, 401);
  assert.equal(FakePeerConnection.last.remoteDescription, undefined);
});

const unanswered = (init) => new Promise((_, reject) => {
  init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
});

test('no answer in time is a NegotiationTimeout, and the request is aborted', async () => {
  answer = unanswered;
  const transport = new OpenAIWebRTCTransport({ log: silentLog().log });
  await assert.rejects(transport.connect(payload(), { timeoutMs: 30 }), NegotiationTimeout);
  assert.equal(requests[0].signal.aborted, true);
});

test('closing while connecting rejects with TransportClosed and aborts the request', async () => {
  answer = unanswered;
  const transport = new OpenAIWebRTCTransport({ log: silentLog().log });
  const connecting = transport.connect(payload(), { timeoutMs: 5000 });
  while (!requests.length) await new Promise((resolve) => setTimeout(resolve, 0));
  transport.close();
  await assert.rejects(connecting, TransportClosed);
  assert.equal(requests[0].signal.aborted, true);
  assert.equal(FakePeerConnection.last.closed, true);
});

test('server events leave the transport in the neutral form', async () => {
  const { pc, events, lines } = await up();
  pc.channel.receive({ type: 'session.created', session: { audio: { input: { turn_detection: { type: 'semantic_vad' } } } } });
  pc.channel.receive({ type: 'input_audio_buffer.speech_started' });
  pc.channel.receive({ type: 'response.output_audio_transcript.delta', item_id: 'a1', delta: 'Hi' });
  pc.channel.receive({ type: 'rate_limits.updated' });
  pc.channel.receive('not json');
  assert.deepEqual(events, [
    { type: 'session.started', turnDetection: { type: 'semantic_vad' } },
    { type: 'user.speech_started' },
    { type: 'transcript.delta', role: 'assistant', id: 'a1', text: 'Hi' },
  ]);
  assert.ok(lines.some(([level, line]) => level === 'debug' && line === '[speech] event input_audio_buffer.speech_started'));
  assert.ok(lines.some(([level, line]) => level === 'warn' && line.includes('not JSON')));
});

test("actions become client events; voice activity comes back as the session's own", async () => {
  const { transport, pc } = await up();
  pc.channel.receive({ type: 'session.created', session: { audio: { input: { turn_detection: { type: 'semantic_vad' } } } } });
  assert.equal(transport.sendText('hello'), true);
  transport.setTurnMode('push_to_talk');
  transport.startTalking();
  transport.stopTalking();
  transport.setTurnMode('voice_activity');
  const turnDetection = (event) => event.session?.audio?.input?.turn_detection;
  assert.deepEqual(pc.channel.sent.map((event) => event.type), [
    'conversation.item.create', 'response.create', 'session.update', 'input_audio_buffer.clear',
    'input_audio_buffer.commit', 'response.create', 'session.update',
  ]);
  assert.equal(turnDetection(pc.channel.sent[2]), null);
  assert.deepEqual(turnDetection(pc.channel.sent[6]), { type: 'semantic_vad' });
  transport.close();
  assert.equal(transport.sendText('too late'), false);
});

test('a connection that fails once up is lost, once; nothing is heard after close', async () => {
  const { transport, pc, events } = await up();
  pc.state('disconnected');
  pc.state('failed');
  assert.deepEqual(events, [{ type: 'connection-lost' }]);
  transport.close();
  pc.channel.receive({ type: 'input_audio_buffer.speech_started' });
  assert.deepEqual(events, [{ type: 'connection-lost' }]);
});

test("the provider's call id is read from its answer's Location (direct mode only)", async () => {
  answer = () => new Response('v=0 answer', { status: 201, headers: { Location: '/v1/realtime/calls/rtc_42' } });
  const direct = await up();
  assert.equal(direct.transport.providerCallId, 'rtc_42');
  direct.transport.close();
  const unified = await up(payload({ client_secret: null, webrtc: { url: '/api/v1/realtime_call', data_channel: 'oai-events' } }));
  assert.equal(unified.transport.providerCallId, '');
  answer = () => new Response('v=0 answer', { status: 201, headers: { Location: '/v1/realtime/calls/../../evil' } });
  assert.equal((await up()).transport.providerCallId, '');
});

test('a data channel the provider closes ends the call, once; one we close does not', async () => {
  const { transport, pc, events } = await up();
  pc.channel.dispatchEvent(new Event('close'));
  pc.state('failed');
  assert.deepEqual(events, [{ type: 'connection-lost' }]);
  const other = await up();
  other.transport.close();
  other.pc.channel.dispatchEvent(new Event('close'));
  assert.deepEqual(other.events, []);
  transport.close();
});
