/**
 * The speech store: the state of one conversation and the actions on it.
 *
 * Emits 'change' (detail: the state), 'toast' (detail: {title, message}),
 * 'microphone' and 'remote-stream' (detail: a MediaStream). Its state never holds
 * the client secret: that lives only inside one negotiation.
 */

import { createCall, NegotiationError, NegotiationTimeout } from './rtc-connection.js';
import { requestSession, SessionError } from './session-client.js';
import { reportConnect } from './telemetry.js';
import { addTypedMessage, applyEvent } from './transcript.js';

const BACKOFF_MS = [250, 1000, 2000];
const TRANSCRIPT_LIMIT = 200; // entries kept on the page; a long call must not grow without bound

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class SpeechStore extends EventTarget {
  #sessionUrl;
  #telemetryUrl;
  #timeoutMs;
  #attempts;
  #log;
  #media;
  #call = null;
  #microphone = null;
  #generation = 0;
  #typed = 0;
  #deviceId = '';
  #turnMode = 'voice_activity'; // or 'push_to_talk'
  #voiceActivity = { type: 'server_vad' }; // the session's own turn detection, restored after push-to-talk
  #state = {
    status: 'idle', // idle | connecting | connected | failed
    detail: '',
    muted: false,
    turnMode: 'voice_activity',
    talking: false,
    listening: false,
    speaking: false,
    connectMs: null,
    transcript: [],
  };

  /**
   * @param {{sessionUrl: string, telemetryUrl?: string, negotiationTimeoutMs?: number,
   *          negotiationAttempts?: number, log?: Console, media?: MediaDevices}} options
   */
  constructor({ sessionUrl, telemetryUrl = '', negotiationTimeoutMs = 10000, negotiationAttempts = 3,
    log = console, media = navigator.mediaDevices }) {
    super();
    this.#sessionUrl = sessionUrl;
    this.#telemetryUrl = telemetryUrl;
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
   * Requests a session, opens the microphone and starts the peer connection at once,
   * then negotiates. A negotiation that times out is retried with a fresh session.
   * @param {{model?: string, voice?: string}} [request]
   */
  async connect(request = {}) {
    if (this.#state.status === 'connecting' || this.#state.status === 'connected') return;
    const generation = ++this.#generation;
    const started = performance.now();
    this.#update({ status: 'connecting', detail: 'Connecting…', connectMs: null, listening: false, speaking: false });
    const audio = { echoCancellation: true, noiseSuppression: true };
    if (this.#deviceId) audio.deviceId = { exact: this.#deviceId };
    const microphone = this.#media.getUserMedia({ audio });
    microphone.catch(() => {}); // reported where it is awaited
    try {
      for (let attempt = 1; ; attempt += 1) {
        const call = this.#startCall(generation);
        try {
          const [session, stream] = await Promise.all([
            requestSession(this.#sessionUrl, request),
            microphone.catch((error) => Promise.reject(new MicrophoneError(error))),
          ]);
          if (generation !== this.#generation) {
            for (const track of stream.getTracks()) track.stop(); // hung up meanwhile
            return;
          }
          this.#useMicrophone(stream);
          await call.attachMicrophone(stream.getAudioTracks()[0]);
          await call.negotiate(session, { timeoutMs: this.#timeoutMs });
          break;
        } catch (error) {
          call.close();
          if (!(error instanceof NegotiationTimeout) || attempt >= this.#attempts) throw error;
          if (generation !== this.#generation) return;
          this.#log.warn(`[speech] negotiation attempt ${attempt} timed out; retrying with a fresh session`);
          this.#update({ detail: `Retrying (${attempt + 1}/${this.#attempts})…` });
          await sleep(BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]);
          if (generation !== this.#generation) return;
        }
      }
      const connectMs = Math.round(performance.now() - started);
      this.#log.info(`[speech] connected in ${connectMs} ms`);
      reportConnect(this.#telemetryUrl, { outcome: 'connected', connect_ms: connectMs });
      this.#update({ status: 'connected', detail: 'Connected', connectMs });
    } catch (error) {
      if (generation !== this.#generation) return;
      this.#fail(error);
    }
  }

  /** Ends the conversation, stops the microphone; connect() may be called again. */
  hangUp() {
    this.#generation += 1;
    this.#release();
    this.#update({ status: 'idle', detail: 'Idle', listening: false, speaking: false });
  }

  /** Mutes or unmutes the microphone without ending the call. */
  setMuted(muted) {
    if (this.#microphone) for (const track of this.#microphone.getAudioTracks()) track.enabled = !muted;
    this.#update({ muted });
  }

  /** The microphone for the next connect ('' for the browser's default). */
  setMicrophoneDevice(deviceId) {
    this.#deviceId = deviceId || '';
  }

  /**
   * Voice activity (the provider detects turns) or push-to-talk (hold a button); applies at once.
   * @param {'voice_activity' | 'push_to_talk'} mode
   */
  setTurnMode(mode) {
    this.#turnMode = mode === 'push_to_talk' ? 'push_to_talk' : 'voice_activity';
    this.#update({ turnMode: this.#turnMode, talking: false });
    this.#sendTurnDetection();
  }

  /** Push-to-talk: the user starts holding the button. */
  startTalking() {
    if (this.#turnMode !== 'push_to_talk' || !this.#call) return;
    this.#call.send({ type: 'input_audio_buffer.clear' });
    this.#update({ talking: true });
  }

  /** Push-to-talk: the user lets go; what they said is committed and answered. */
  stopTalking() {
    if (!this.#state.talking || !this.#call) return;
    this.#call.send({ type: 'input_audio_buffer.commit' });
    this.#call.send({ type: 'response.create' });
    this.#update({ talking: false });
  }

  #sendTurnDetection() {
    if (!this.#call) return;
    const turnDetection = this.#turnMode === 'push_to_talk' ? null : this.#voiceActivity;
    this.#call.send({ type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: turnDetection } } } });
  }

  /**
   * Adds a typed message to the conversation and asks for an answer.
   * @param {string} text
   * @returns {boolean} whether it was sent
   */
  sendText(text) {
    const message = text.trim();
    if (!message || !this.#call) return false;
    const sent = this.#call.send({
      type: 'conversation.item.create',
      item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: message }] },
    });
    if (!sent) return false;
    this.#call.send({ type: 'response.create' });
    this.#typed += 1;
    this.#update({ transcript: addTypedMessage(this.#state.transcript, `typed-${this.#typed}`, message) });
    return true;
  }

  #startCall(generation) {
    const call = createCall({
      log: this.#log,
      onEvent: (event) => generation === this.#generation && this.#handleEvent(event),
      onConnectionState: (state) => {
        if (generation !== this.#generation || this.#state.status !== 'connected') return;
        if (state === 'failed' || state === 'disconnected') {
          this.#release();
          this.#fail(new ConnectionLost());
        }
      },
      onRemoteStream: (stream) => this.#emit('remote-stream', stream),
    });
    this.#call = call;
    return call;
  }

  #useMicrophone(stream) {
    if (this.#microphone === stream) return;
    this.#microphone = stream;
    for (const track of stream.getAudioTracks()) track.enabled = !this.#state.muted;
    this.#emit('microphone', stream);
  }

  #handleEvent(event) {
    this.#log.debug(`[speech] event ${event.type}`);
    switch (event.type) {
      case 'session.created': {
        this.#log.info('[speech] session created');
        const detection = event.session?.audio?.input?.turn_detection;
        if (detection) this.#voiceActivity = detection;
        if (this.#turnMode === 'push_to_talk') this.#sendTurnDetection();
        break;
      }
      case 'input_audio_buffer.speech_started':
        this.#update({ listening: true });
        break;
      case 'input_audio_buffer.speech_stopped':
        this.#update({ listening: false });
        break;
      case 'output_audio_buffer.started':
        this.#update({ speaking: true });
        break;
      case 'output_audio_buffer.stopped':
      case 'output_audio_buffer.cleared':
        this.#update({ speaking: false });
        break;
      case 'error':
        this.#toast('Realtime error', event.error?.message || 'The provider reported an error.');
        break;
      case 'response.done':
        if (event.response?.status === 'failed') {
          const error = event.response.status_details?.error;
          this.#toast('Response failed', error?.message || error?.code || 'The model could not answer.');
        }
        break;
      default:
        break;
    }
    const transcript = applyEvent(this.#state.transcript, event);
    if (transcript !== this.#state.transcript) this.#update({ transcript: transcript.slice(-TRANSCRIPT_LIMIT) });
  }

  #fail(error) {
    this.#release();
    reportConnect(this.#telemetryUrl, { outcome: 'failed', stage: failureStage(error) });
    const [title, message] = describe(error);
    this.#log.error(`[speech] ${title}: ${message}`);
    this.#toast(title, message);
    this.#update({ status: 'failed', detail: title, listening: false, speaking: false });
  }

  #release() {
    if (this.#call) this.#call.close();
    this.#call = null;
    if (this.#microphone) for (const track of this.#microphone.getTracks()) track.stop();
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
