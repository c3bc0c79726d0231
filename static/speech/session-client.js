/** Asks the gateway for a realtime session (POST /realtime_session). */

import { gatewayJson } from './http.js';

export class SessionError extends Error {
  /**
   * @param {string} message what the server said, for the person
   * @param {{code?: string, status?: number}} details
   */
  constructor(message, { code = 'network_error', status = 0 } = {}) {
    super(message);
    this.name = 'SessionError';
    this.code = code;
    this.status = status;
  }
}

/**
 * Mints a session. The answer holds the client secret: hand it straight to the transport's
 * connect() and keep no other reference to it.
 * @param {string} url the gateway's session URL
 * @param {{model?: string, voice?: string}} [request]
 * @returns {Promise<object>} the session payload: {provider, model, voice, turn_mode,
 *   client_secret: ?{value, expires_at}, webrtc: {url, data_channel, codecs}, session}
 */
export async function requestSession(url, request = {}) {
  try {
    return await gatewayJson(url, { method: 'POST', body: request });
  } catch (error) {
    throw new SessionError(error.message, { code: error.code, status: error.status });
  }
}
