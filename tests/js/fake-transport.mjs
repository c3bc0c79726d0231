/**
 * A scripted fake of the transport contract (static/speech/transports/transport.js), for the
 * store's tests. Test-only: it lives under tests/, so it is never in the page's import graph.
 *
 * Each transport plays one script for connect():
 *   'ok'       resolves at once
 *   'timeout'  rejects with NegotiationTimeout
 *   'fail'     rejects with NegotiationError (the provider refused the call)
 *   'hang'     stays pending until close(), then rejects with TransportClosed (like the real one)
 * and records every call made on it in `calls`, as [method, ...arguments].
 */

import { NegotiationError, NegotiationTimeout, TransportClosed } from '../../static/speech/transports/transport.js';

export class FakeTransport extends EventTarget {
  /** @param {'ok' | 'timeout' | 'fail' | 'hang'} script */
  constructor(script = 'ok') {
    super();
    this.script = script;
    this.calls = [];
    this.closed = false;
    this.connected = false;
    this.connectOptions = null;
    this.sessionHadSecret = null;
    this.rejectConnect = null;
    this.providerCallId = ''; // set by 'ok': the provider's call id a real transport reads from Location
  }

  async connect(session, options) {
    this.calls.push(['connect']);
    this.connectOptions = options;
    this.sessionHadSecret = Boolean(session.client_secret?.value);
    if (this.closed) throw new TransportClosed();
    switch (this.script) {
      case 'ok':
        this.connected = true;
        if (session.client_secret) this.providerCallId = 'rtc_fake1';
        return;
      case 'timeout':
        throw new NegotiationTimeout(options.timeoutMs);
      case 'fail':
        throw new NegotiationError('The provider refused the call: HTTP 403', { status: 403 });
      case 'hang':
        await new Promise((_, reject) => { this.rejectConnect = () => reject(new TransportClosed()); });
        return;
      default:
        throw new Error(`unknown script ${this.script}`);
    }
  }

  #record(name, ...args) {
    this.calls.push([name, ...args]);
    return this.connected && !this.closed;
  }

  sendText(text) { return this.#record('sendText', text); }

  startTalking() { return this.#record('startTalking'); }

  stopTalking() { return this.#record('stopTalking'); }

  cancel() { return this.#record('cancel'); }

  setTurnMode(mode) { return this.#record('setTurnMode', mode); }

  close() {
    this.calls.push(['close']);
    this.closed = true;
    this.connected = false;
    if (this.rejectConnect) this.rejectConnect();
  }

  /** The calls other than connect and close, e.g. [['sendText', 'hi']]. */
  get actions() {
    return this.calls.filter(([name]) => name !== 'connect' && name !== 'close');
  }

  /**
   * Plays a neutral event, as a real transport would on hearing from the provider.
   * @param {string} type
   * @param {object} [fields]
   */
  emit(type, fields = {}) {
    if (!this.closed) this.dispatchEvent(new CustomEvent(type, { detail: { type, ...fields } }));
  }
}

/**
 * A createTransport() for the store that hands out fake transports playing the given scripts in
 * turn ('ok' once they run out); `made` holds them, with the session payloads they were made for.
 * @param {...string} scripts
 */
export function scriptedTransports(...scripts) {
  const made = [];
  const createTransport = (session, options) => {
    const transport = new FakeTransport(scripts[made.length] ?? 'ok');
    transport.options = options;
    made.push(transport);
    return transport;
  };
  return { createTransport, made };
}
