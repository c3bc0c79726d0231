/**
 * The transport contract. Every transport (one per vendor protocol; transports/index.js picks one
 * from the session payload) has this shape, so the store names no vendor:
 *
 *   connect(session, {microphone, timeoutMs}) → Promise   resolves once the call is up; rejects
 *                                               with NegotiationError, NegotiationTimeout (the
 *                                               store retries it with a fresh session) or
 *                                               TransportClosed (below)
 *   sendText(text), startTalking(), stopTalking(), cancel(), setTurnMode(mode) → boolean
 *                                               false when the call is not up
 *   close()                                     ends the call; the microphone stays the caller's
 *   providerCallId                             the provider's call id once connected, or '' (a getter)
 *
 * It is an EventTarget; each event is a CustomEvent whose detail is the neutral event itself
 * ({type, ...}): 'session.started', 'user.speech_started', 'user.speech_stopped',
 * 'assistant.speaking' {speaking}, 'transcript.started' | 'transcript.delta' | 'transcript.done' |
 * 'transcript.failed' {role, id, text}, 'error' {message, code}, 'response.failed' {message, code},
 * 'tool' {id, name, arguments, state, error} (see events/openai.js), and from the transport itself
 * 'remote-stream' {stream} and 'connection-lost' (the peer connection failed, or the provider
 * closed the call). No event fires after close().
 */

/** The event types a transport emits. */
export const TRANSPORT_EVENTS = Object.freeze([
  'session.started', 'user.speech_started', 'user.speech_stopped', 'assistant.speaking',
  'transcript.started', 'transcript.delta', 'transcript.done', 'transcript.failed',
  'error', 'response.failed', 'tool', 'remote-stream', 'connection-lost',
]);

export class NegotiationError extends Error {
  /**
   * @param {string} message for the person
   * @param {{status?: number}} details the provider's HTTP status, when it answered
   */
  constructor(message, { status = 0 } = {}) {
    super(message);
    this.name = 'NegotiationError';
    this.status = status;
  }
}

/** No connection within the time allowed; the store retries these with a fresh session. */
export class NegotiationTimeout extends NegotiationError {
  constructor(ms) {
    super(`No connection within ${ms} ms.`);
    this.name = 'NegotiationTimeout';
  }
}

/** The transport was closed (the user hung up) before it connected. */
export class TransportClosed extends NegotiationError {
  constructor() {
    super('The call was closed before it connected.');
    this.name = 'TransportClosed';
  }
}
