/** Picks the transport a session payload asks for (the contract: transport.js). */

import { OpenAIWebRTCTransport } from './openai-webrtc.js';

/**
 * A new, unconnected transport for this session payload.
 * @param {{webrtc?: object}} session the answer of POST /realtime_session
 * @param {{log?: Console}} [options]
 */
export function createTransport(session, options = {}) {
  if (session.webrtc) return new OpenAIWebRTCTransport(options);
  throw new Error('The session payload names no transport this page knows.');
}
