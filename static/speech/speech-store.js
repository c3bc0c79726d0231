/**
 * The speech store: the state of one conversation and the actions on it, over whichever
 * transport the session payload asks for (the contract: transports/transport.js). It names no
 * vendor and reads no vendor event; the transport hands it neutral events.
 *
 * Emits 'change' (detail: the state), 'toast' (detail: {title, message}),
 * 'microphone' and 'remote-stream' (detail: a MediaStream, or null when the microphone closes).
 * Its state never holds the client secret: that lives only inside one negotiation.
 */

import { clock, endedCall, endReasonWords, reportCall } from './call-record.js';
import { requestSession, SessionError } from './session-client.js';
import { reportConnect } from './telemetry.js';
import { addTypedMessage, applyEvent } from './transcript.js';
import { NegotiationError, NegotiationTimeout, TRANSPORT_EVENTS } from './transports/transport.js';

const BACKOFF_MS = [250, 1000, 2000];
const TRANSCRIPT_LIMIT = 200; // entries kept on the page; a long call must not grow without bound
const TURN_MODES = ['voice_activity', 'push_to_talk'];
const LIMIT_WARNING_SECONDS = 60; // the time left shows in a call's last minute

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const turnMode = (mode) => (mode === 'push_to_talk' ? 'push_to_talk' : 'voice_activity');
const stopTracks = (stream) => { for (const track of stream.getTracks()) track.stop(); };

export class SpeechStore extends EventTarget {
  #sessionUrl;
  #telemetryUrl;
  #callsUrl;
  #call = null; // the mint answer's call: {id, ref, report_url, limits}
  #limitTimers = [];
  #timeoutMs;
  #attempts;
  #createTransport;
  #log;
  #media;
  #transport = null;
  #microphone = null;
  #generation = 0;
  #typed = 0;
  #deviceId = '';
  #liveTurnMode = null; // what the call's session does now; null without a session
  #turnModeChosen = false; // the user picked a turn mode while this connect was under way
  #state = {
    status: 'idle', // idle | connecting | connected | failed
    detail: '',
    muted: false,
    turnMode: 'voice_activity', // or 'push_to_talk'
    talking: false,
    listening: false,
    speaking: false,
    connectMs: null,
    remaining: '', // "0:42" in a call's last minute before its time limit
    notice: '', // why the server ended the last call, in words
    transcript: [],
  };

  /**
   * @param {{sessionUrl: string, createTransport: function(object, {log: Console}): EventTarget,
   *          telemetryUrl?: string, callsUrl?: string, negotiationTimeoutMs?: number,
   *          negotiationAttempts?: number, log?: Console, media?: MediaDevices}} options createTransport
   *          picks a transport for a session payload (transports/index.js in the page, a fake in tests);
   *          callsUrl is GET /api/v1/calls, where the page asks why the server ended a call
   */
  constructor({ sessionUrl, createTransport, telemetryUrl = '', callsUrl = '', negotiationTimeoutMs = 10000,
    negotiationAttempts = 3, log = console, media = navigator.mediaDevices }) {
    super();
    if (typeof createTransport !== 'function') throw new TypeError('SpeechStore needs createTransport');
    this.#sessionUrl = sessionUrl;
    this.#createTransport = createTransport;
    this.#telemetryUrl = telemetryUrl;
    this.#callsUrl = callsUrl;
    this.#timeoutMs = negotiationTimeoutMs;
    this.#attempts = negotiationAttempts;
    this.#log = log;
    this.#media = media;
  }

  /** A copy of the current state. */
  get state() {
    return { ...this.#state, transcript: this.#state.transcript.slice() };
  }

  /**
   * Requests a session and opens the microphone at once, then connects the transport the session
   * names. A negotiation that times out is retried with a fresh session.
   * @param {{model?: string, voice?: string}} [request]
   */
  async connect(request = {}) {
    if (this.#state.status === 'connecting' || this.#state.status === 'connected') return;
    const generation = ++this.#generation;
    const started = performance.now();
    this.#turnModeChosen = false;
    this.#update({
      status: 'connecting', detail: 'Connecting…', connectMs: null, listening: false, speaking: false, notice: '',
    });
    const audio = { echoCancellation: true, noiseSuppression: true };
    if (this.#deviceId) audio.deviceId = { exact: this.#deviceId };
    const microphone = this.#media.getUserMedia({ audio });
    microphone.catch(() => {}); // reported where it is awaited
    let up = false;
    try {
      for (let attempt = 1; ; attempt += 1) {
        let transport = null;
        try {
          const [session, stream] = await Promise.all([
            requestSession(this.#sessionUrl, request),
            microphone.catch((error) => Promise.reject(new MicrophoneError(error))),
          ]);
          if (generation !== this.#generation) {
            stopTracks(stream); // hung up meanwhile
            return;
          }
          this.#useMicrophone(stream);
          this.#adoptTurnMode(session.turn_mode);
          transport = this.#startTransport(session, generation);
          this.#call = session.call || null;
          await transport.connect(session, { microphone: stream.getAudioTracks()[0], timeoutMs: this.#timeoutMs });
          break;
        } catch (error) {
          if (transport) this.#closeTransport(transport);
          if (generation !== this.#generation) return;
          if (!(error instanceof NegotiationTimeout) || attempt >= this.#attempts) throw error;
          this.#log.warn(`[speech] negotiation attempt ${attempt} timed out; retrying with a fresh session`);
          this.#update({ detail: `Retrying (${attempt + 1}/${this.#attempts})…` });
          await sleep(BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]);
          if (generation !== this.#generation) return;
        }
      }
      const connectMs = Math.round(performance.now() - started);
      this.#log.info(`[speech] connected in ${connectMs} ms`);
      reportConnect(this.#telemetryUrl, { outcome: 'connected', connect_ms: connectMs });
      up = true;
      this.#update({ status: 'connected', detail: 'Connected', connectMs });
      this.#followCall(this.#transport);
      // The user switched the turn mode while connecting: the session still does the other one.
      if (this.#state.turnMode !== this.#liveTurnMode) this.#switchLiveTurnMode();
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#fail(error);
    } finally {
      // A microphone that opened after the session failed, or after a hang-up, must not stay on.
      if (!up) microphone.then((stream) => stream !== this.#microphone && stopTracks(stream), () => {});
    }
  }

  /** Ends the conversation, stops the microphone; connect() may be called again. */
  hangUp() {
    this.#generation += 1;
    this.#release();
    this.#update({ status: 'idle', detail: 'Idle', listening: false, speaking: false, talking: false });
  }

  /**
   * Mutes or unmutes the microphone without ending the call.
   * @param {boolean} muted
   */
  setMuted(muted) {
    if (this.#microphone) for (const track of this.#microphone.getAudioTracks()) track.enabled = !muted;
    this.#update({ muted });
  }

  /**
   * The microphone for the next connect.
   * @param {string} deviceId '' for the browser's default
   */
  setMicrophoneDevice(deviceId) {
    this.#deviceId = deviceId || '';
  }

  /**
   * The turn mode to show while no call is up (the user's saved preference). Changes no call:
   * the next session's own turn mode, decided by the server, replaces it.
   * @param {'voice_activity' | 'push_to_talk'} mode
   */
  showTurnMode(mode) {
    if (this.#state.status === 'idle' || this.#state.status === 'failed') this.#update({ turnMode: turnMode(mode) });
  }

  /**
   * The user switches between voice activity (the provider detects turns) and push-to-talk (hold a
   * button). A live call switches at once; a call still connecting switches once it is up.
   * @param {'voice_activity' | 'push_to_talk'} mode
   */
  setTurnMode(mode) {
    this.#update({ turnMode: turnMode(mode), talking: false });
    if (this.#state.status === 'connecting') this.#turnModeChosen = true;
    if (this.#state.status === 'connected' && this.#state.turnMode !== this.#liveTurnMode) this.#switchLiveTurnMode();
  }

  /** Push-to-talk: the user starts holding the button. */
  startTalking() {
    if (this.#state.turnMode !== 'push_to_talk' || this.#state.status !== 'connected' || !this.#transport) return;
    if (this.#transport.startTalking()) this.#update({ talking: true });
  }

  /** Push-to-talk: the user lets go; what they said is committed and answered. */
  stopTalking() {
    if (!this.#state.talking || !this.#transport) return;
    this.#transport.stopTalking();
    this.#update({ talking: false });
  }

  /**
   * Adds a typed message to the conversation and asks for an answer.
   * @param {string} text
   * @returns {boolean} whether it was sent
   */
  sendText(text) {
    const message = text.trim();
    if (!message || !this.#transport || !this.#transport.sendText(message)) return false;
    this.#typed += 1;
    this.#update({ transcript: addTypedMessage(this.#state.transcript, `typed-${this.#typed}`, message) });
    return true;
  }

  /** Once connected: report the provider's call id (direct mode) and watch the call's time limit. */
  #followCall(transport) {
    const call = this.#call;
    if (!call) return;
    if (call.report_url && transport?.providerCallId) {
      // Fire and forget: "connected" never waits for the gateway.
      reportCall(call.report_url, { ref: call.ref, providerCallId: transport.providerCallId }, { log: this.#log });
    } else if (call.report_url) {
      this.#log.warn("[speech] the provider's answer named no call id: the gateway cannot follow this call");
    }
    const limit = Number(call.limits?.max_call_seconds);
    if (!(limit > 0)) return;
    const endsAt = performance.now() + limit * 1000;
    const tick = () => {
      const left = (endsAt - performance.now()) / 1000;
      this.#update({ remaining: clock(left) });
      if (left > 0) this.#limitTimers.push(setTimeout(tick, Math.min(1000, left * 1000)));
    };
    this.#limitTimers.push(setTimeout(tick, Math.max(0, (limit - LIMIT_WARNING_SECONDS) * 1000)));
  }

  /** The provider closed a call the user did not hang up: the server may have ended it; ask it why. */
  async #callEnded() {
    const call = this.#call;
    const generation = ++this.#generation;
    this.#release();
    this.#update({ status: 'idle', detail: 'Call ended', listening: false, speaking: false, talking: false });
    const record = await endedCall(`${this.#callsUrl}/${encodeURIComponent(call.id)}`);
    if (generation !== this.#generation) return; // a new call meanwhile
    if (!record) {
      this.#fail(new ConnectionLost());
      return;
    }
    const words = endReasonWords(record, call.limits);
    this.#log.info(`[speech] the call ended: ${record.end_reason}`);
    this.#toast('Call ended', words);
    this.#update({ notice: words });
  }

  #adoptTurnMode(mode) {
    this.#liveTurnMode = TURN_MODES.includes(mode) ? mode : 'voice_activity';
    if (!this.#turnModeChosen) this.#update({ turnMode: this.#liveTurnMode, talking: false });
  }

  #switchLiveTurnMode() {
    if (this.#transport?.setTurnMode(this.#state.turnMode)) this.#liveTurnMode = this.#state.turnMode;
  }

  #startTransport(session, generation) {
    const transport = this.#createTransport(session, { log: this.#log });
    const listener = (event) => {
      if (generation === this.#generation && transport === this.#transport) this.#handleEvent(event.detail);
    };
    for (const type of TRANSPORT_EVENTS) transport.addEventListener(type, listener);
    this.#transport = transport;
    return transport;
  }

  #closeTransport(transport) {
    transport.close();
    if (this.#transport === transport) {
      this.#transport = null;
      this.#liveTurnMode = null;
    }
  }

  #useMicrophone(stream) {
    if (this.#microphone === stream) return;
    this.#microphone = stream;
    for (const track of stream.getAudioTracks()) track.enabled = !this.#state.muted;
    this.#emit('microphone', stream);
  }

  /** A neutral event from the transport. */
  #handleEvent(event) {
    switch (event.type) {
      case 'session.started':
        this.#log.info('[speech] session created');
        return;
      case 'user.speech_started':
        this.#update({ listening: true });
        return;
      case 'user.speech_stopped':
        this.#update({ listening: false });
        return;
      case 'assistant.speaking':
        this.#update({ speaking: Boolean(event.speaking) });
        return;
      case 'error':
        this.#toast('Realtime error', event.message || 'The provider reported an error.');
        return;
      case 'response.failed':
        this.#toast('Response failed', event.message || 'The model could not answer.');
        return;
      case 'remote-stream':
        this.#emit('remote-stream', event.stream);
        return;
      case 'connection-lost':
        if (this.#state.status !== 'connected') return;
        if (this.#call?.id && this.#callsUrl) this.#callEnded();
        else this.#fail(new ConnectionLost());
        return;
      default: {
        const transcript = applyEvent(this.#state.transcript, event);
        if (transcript !== this.#state.transcript) this.#update({ transcript: transcript.slice(-TRANSCRIPT_LIMIT) });
      }
    }
  }

  #fail(error) {
    this.#generation += 1; // nothing of this call reaches the state any more
    this.#release();
    reportConnect(this.#telemetryUrl, { outcome: 'failed', stage: failureStage(error) });
    const [title, message] = describe(error);
    this.#log.error(`[speech] ${title}: ${message}`);
    this.#toast(title, message);
    this.#update({ status: 'failed', detail: title, listening: false, speaking: false, talking: false });
  }

  #release() {
    for (const timer of this.#limitTimers.splice(0)) clearTimeout(timer);
    if (this.#state.remaining) this.#update({ remaining: '' });
    if (this.#transport) this.#closeTransport(this.#transport);
    if (this.#microphone) stopTracks(this.#microphone);
    this.#microphone = null;
    this.#emit('microphone', null);
  }

  #update(change) {
    this.#state = { ...this.#state, ...change };
    this.dispatchEvent(new CustomEvent('change', { detail: this.state }));
  }

  #toast(title, message) {
    this.dispatchEvent(new CustomEvent('toast', { detail: { title, message } }));
  }

  #emit(name, stream) {
    this.dispatchEvent(new CustomEvent(name, { detail: stream }));
  }
}

class MicrophoneError extends Error {
  constructor(cause) {
    super(cause?.message || 'The microphone cannot be opened.');
    this.name = 'MicrophoneError';
  }
}

class ConnectionLost extends Error {
  constructor() {
    super('The connection to the provider was lost.');
    this.name = 'ConnectionLost';
  }
}

/** Where connecting failed, in the telemetry endpoint's terms. */
function failureStage(error) {
  if (error instanceof SessionError) return 'session';
  if (error instanceof MicrophoneError) return 'media';
  if (error instanceof ConnectionLost) return 'ice';
  return 'negotiation';
}

function describe(error) {
  if (error instanceof SessionError) return ['Realtime session error', error.message];
  if (error instanceof MicrophoneError) return ['Microphone error', error.message];
  if (error instanceof NegotiationTimeout) return ['WebRTC negotiation timed out', error.message];
  if (error instanceof NegotiationError) return ['WebRTC negotiation failed', error.message];
  if (error instanceof ConnectionLost) return ['Connection lost', error.message];
  return ['Connection error', error?.message || String(error)];
}
