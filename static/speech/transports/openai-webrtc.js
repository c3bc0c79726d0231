/**
 * The OpenAI Realtime WebRTC transport (OpenAI, Azure OpenAI and the local provider): one
 * RTCPeerConnection described by the session payload alone (SDP URL, data channel name, codecs,
 * and whether a bearer secret is used). The model's audio arrives on the peer connection's track;
 * its events arrive on the data channel and leave this class in the neutral form of
 * events/openai.js. The contract is documented in transport.js.
 */

import { callIdFromLocation } from '../call-record.js';
import { clientEvents, DEFAULT_VOICE_ACTIVITY, normalise } from '../events/openai.js';
import { gatewayFetch } from '../http.js';
import { NegotiationError, NegotiationTimeout, TransportClosed } from './transport.js';

// The offer goes out once it carries the browser's first candidate, not after gathering completes:
// Chromium's later phases (TCP) take another ~120 ms, and no provider takes trickled candidates.
// The provider learns any address the offer lacks from the browser's checks (peer-reflexive).
const ICE_GATHERING_WAIT_MS = 1000; // at most, when no candidate comes

function waitFor(target, eventName, predicate) {
  return new Promise((resolve) => {
    if (predicate()) return resolve();
    const check = () => {
      if (predicate()) {
        target.removeEventListener(eventName, check);
        resolve();
      }
    };
    target.addEventListener(eventName, check);
  });
}

/** Puts the payload's codecs (e.g. ["opus"]) first in the offer, where the browser supports that. */
function preferCodecs(transceiver, codecs) {
  if (!codecs?.length || !transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const available = RTCRtpReceiver.getCapabilities('audio')?.codecs || [];
  const wanted = codecs.map((name) => `audio/${name}`.toLowerCase());
  const first = available.filter((codec) => wanted.includes(codec.mimeType.toLowerCase()));
  if (first.length) transceiver.setCodecPreferences([...first, ...available.filter((c) => !first.includes(c))]);
}

function logTransitions(pc, log) {
  for (const [eventName, property] of [
    ['connectionstatechange', 'connectionState'],
    ['iceconnectionstatechange', 'iceConnectionState'],
    ['icegatheringstatechange', 'iceGatheringState'],
    ['signalingstatechange', 'signalingState'],
  ]) {
    pc.addEventListener(eventName, () => log.info(`[webrtc] ${property} → ${pc[property]}`));
  }
}

/** Reads the provider's refusal of an SDP offer, for the person. */
async function refusal(response) {
  const detail = await response.text().catch(() => '');
  let message = `HTTP ${response.status}`;
  try {
    message = JSON.parse(detail).error.message || message;
  } catch {
    // not an OpenAI-style error body
  }
  return new NegotiationError(`The provider refused the call: ${message}`, { status: response.status });
}

export class OpenAIWebRTCTransport extends EventTarget {
  #log;
  #pc = null;
  #channel = null;
  #controller = new AbortController();
  #abortConnect = null;
  #connected = false;
  #closed = false;
  #providerCallId = '';
  #voiceActivity = DEFAULT_VOICE_ACTIVITY; // the session's own turn detection, restored after push-to-talk

  /** @param {{log?: Console}} [options] */
  constructor({ log = console } = {}) {
    super();
    this.#log = log;
  }

  /**
   * The provider's call id, from its answer's Location header (direct mode), once connected; '' when the
   * provider did not name it (the gateway's relay learns it itself in unified mode).
   * @returns {string}
   */
  get providerCallId() {
    return this.#providerCallId;
  }

  /**
   * Negotiates the call: posts the SDP offer to the payload's WebRTC URL and applies the answer.
   * Resolves once the peer is connected and the data channel is open. With a client secret the
   * offer goes to the provider as a bearer request (the secret is read here and kept nowhere);
   * without one it goes to the gateway's relay with the page's own credentials (unified mode).
   * @param {{client_secret: ?{value: string}, webrtc: {url: string, data_channel: string, codecs?: string[]}}} session
   * @param {{microphone?: MediaStreamTrack, timeoutMs?: number}} [options]
   * @returns {Promise<void>} rejects with NegotiationError, NegotiationTimeout or TransportClosed
   */
  async connect(session, { microphone = null, timeoutMs = 10000 } = {}) {
    if (this.#closed) throw new TransportClosed();
    if (this.#pc) throw new Error('connect() is called once per transport.');
    const pc = new RTCPeerConnection();
    this.#pc = pc;
    const transceiver = pc.addTransceiver('audio', { direction: 'sendrecv' });
    logTransitions(pc, this.#log);
    pc.addEventListener('connectionstatechange', () => {
      if (!this.#connected || !['failed', 'disconnected'].includes(pc.connectionState)) return;
      this.#connected = false;
      this.#emit({ type: 'connection-lost' });
    });
    pc.addEventListener('track', (event) => {
      this.#emit({ type: 'remote-stream', stream: event.streams[0] || new MediaStream([event.track]) });
    });
    if (microphone) await transceiver.sender.replaceTrack(microphone);
    if (this.#closed) throw new TransportClosed();
    preferCodecs(transceiver, session.webrtc.codecs);
    this.#channel = this.#openChannel(pc, session.webrtc.data_channel);

    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => {
        this.#controller.abort();
        reject(new NegotiationTimeout(timeoutMs));
      }, timeoutMs);
    });
    const closed = new Promise((_, reject) => {
      this.#abortConnect = () => reject(new TransportClosed());
    });
    const exchange = this.#exchange(pc, session);
    exchange.catch(() => {}); // it may fail after the deadline or a hang-up has already answered
    try {
      await Promise.race([exchange, deadline, closed]);
      this.#connected = true;
    } finally {
      clearTimeout(timer);
      this.#abortConnect = null;
    }
  }

  async #exchange(pc, session) {
    const opened = waitFor(this.#channel, 'open', () => this.#channel.readyState === 'open');
    const connected = waitFor(pc, 'connectionstatechange', () => pc.connectionState === 'connected');
    const candidate = new Promise((resolve) => pc.addEventListener('icecandidate', resolve, { once: true }));
    await pc.setLocalDescription(await pc.createOffer());
    await Promise.race([
      candidate,
      waitFor(pc, 'icegatheringstatechange', () => pc.iceGatheringState === 'complete'),
      new Promise((resolve) => setTimeout(resolve, ICE_GATHERING_WAIT_MS)),
    ]);
    const request = {
      method: 'POST',
      body: pc.localDescription.sdp,
      headers: { 'Content-Type': 'application/sdp' },
      signal: this.#controller.signal,
    };
    let response;
    try {
      if (session.client_secret) {
        request.headers.Authorization = `Bearer ${session.client_secret.value}`;
        response = await fetch(session.webrtc.url, request);
      } else {
        response = await gatewayFetch(session.webrtc.url, request);
      }
    } catch (error) {
      if (this.#controller.signal.aborted) return;
      throw new NegotiationError(`The provider cannot be reached (${error.message}).`);
    }
    // An error body fed to setRemoteDescription fails as "Failed to parse SessionDescription".
    if (!response.ok) throw await refusal(response);
    if (session.client_secret) this.#providerCallId = callIdFromLocation(response.headers.get('Location'));
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    await Promise.all([connected, opened]);
  }

  #openChannel(pc, label) {
    const channel = pc.createDataChannel(label);
    channel.addEventListener('message', (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        this.#log.warn('[webrtc] data channel message is not JSON');
        return;
      }
      this.#log.debug(`[speech] event ${event?.type}`);
      const neutral = normalise(event);
      if (!neutral) return;
      if (neutral.type === 'session.started' && neutral.turnDetection) this.#voiceActivity = neutral.turnDetection;
      this.#emit(neutral);
    });
    channel.addEventListener('open', () => this.#log.info('[webrtc] data channel open'));
    channel.addEventListener('close', () => {
      this.#log.info('[webrtc] data channel closed');
      // Not by us: the provider ended the call (the server's hang-up, a limit).
      if (!this.#connected) return;
      this.#connected = false;
      this.#emit({ type: 'connection-lost' });
    });
    return channel;
  }

  /**
   * Adds a typed user message to the conversation and asks for an answer.
   * @param {string} text
   * @returns {boolean} false when the call is not up
   */
  sendText(text) {
    return this.#send(clientEvents.text(text));
  }

  /** Push-to-talk pressed: the turn starts now. @returns {boolean} */
  startTalking() {
    return this.#send(clientEvents.startTalking());
  }

  /** Push-to-talk released: what was said is sent and answered. @returns {boolean} */
  stopTalking() {
    return this.#send(clientEvents.stopTalking());
  }

  /** Interrupts the assistant's answer. @returns {boolean} */
  cancel() {
    return this.#send(clientEvents.cancel());
  }

  /**
   * Switches the live call's turn detection: the session's own voice activity detection, or
   * none (push-to-talk).
   * @param {'voice_activity' | 'push_to_talk'} mode
   * @returns {boolean}
   */
  setTurnMode(mode) {
    return this.#send(clientEvents.turnDetection(mode === 'push_to_talk' ? null : this.#voiceActivity));
  }

  /** Ends the call (a connect() under way rejects with TransportClosed). The microphone is the caller's. */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    this.#connected = false;
    if (this.#abortConnect) this.#abortConnect();
    this.#controller.abort();
    if (this.#channel) this.#channel.close();
    if (this.#pc) this.#pc.close();
  }

  #send(events) {
    if (this.#closed || !this.#channel || this.#channel.readyState !== 'open') return false;
    for (const event of events) this.#channel.send(JSON.stringify(event));
    return true;
  }

  #emit(event) {
    if (!this.#closed) this.dispatchEvent(new CustomEvent(event.type, { detail: event }));
  }
}
