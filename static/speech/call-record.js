/**
 * The gateway's record of a call: reporting the provider's call id (direct mode) and asking why a call
 * the server ended has ended. Both are the page's own requests to the gateway (http.js).
 */

import { gatewayJson } from './http.js';

const REPORT_RETRY_MS = [300, 1000, 2000]; // the call's row is written just after the mint's answer
const END_POLL_MS = [250, 500, 1000, 1000, 2000]; // the supervisor ends the record just after hanging up

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The provider's call id in its SDP answer's Location header ("/v1/realtime/calls/rtc_..."), or ''.
 * @param {?string} location
 * @returns {string}
 */
export function callIdFromLocation(location) {
  const last = (location || '').split('?')[0].replace(/\/+$/, '').split('/').pop() || '';
  return /^rtc_[A-Za-z0-9_-]{1,100}$/.test(last) ? last : '';
}

/**
 * Tells the gateway which provider call the minted session opened, so its supervisor joins it. Fire and
 * forget: resolves true once accepted, false when refused or unreachable; never rejects.
 * @param {string} url the mint answer's call.report_url
 * @param {{ref: string, providerCallId: string}} report
 * @param {{log?: Console}} [options]
 * @returns {Promise<boolean>}
 */
export async function reportCall(url, { ref, providerCallId }, { log = console } = {}) {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await gatewayJson(url, { method: 'POST', body: { ref, provider_call_id: providerCallId } });
      log.info('[speech] call reported to the gateway');
      return true;
    } catch (error) {
      const early = error.code === 'call_not_found' || error.status === 0;
      if (!early || attempt >= REPORT_RETRY_MS.length) {
        log.warn(`[speech] the gateway refused the call report: ${error.code}`);
        return false;
      }
      await sleep(REPORT_RETRY_MS[attempt]);
    }
  }
}

/**
 * The record of a call once it has ended, or null when it does not end within a few seconds, or cannot
 * be read (an anonymous visitor reads no calls).
 * @param {string} url the call's URL (GET /api/v1/calls/{id})
 * @returns {Promise<?object>}
 */
export async function endedCall(url) {
  for (const wait of [0, ...END_POLL_MS]) {
    if (wait) await sleep(wait);
    let call;
    try {
      call = await gatewayJson(url);
    } catch (error) {
      if (error.status !== 404 && error.status !== 0) return null; // not ours to read
      continue;
    }
    if (call?.status === 'ended') return call;
  }
  return null;
}

const minutes = (seconds) => {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const whole = Math.round(seconds / 60);
  return `${whole} minute${whole === 1 ? '' : 's'}`;
};

/**
 * Why the call ended, in words for the person.
 * @param {{end_reason: string, end_reason_text?: string}} call
 * @param {?{max_call_seconds: ?number, idle_seconds: ?number}} limits the mint answer's limits
 * @returns {string}
 */
export function endReasonWords(call, limits = null) {
  switch (call.end_reason) {
    case 'time_limit':
      return limits?.max_call_seconds
        ? `The call reached its time limit of ${minutes(limits.max_call_seconds)}.`
        : 'The call reached its time limit.';
    case 'idle':
      return limits?.idle_seconds
        ? `The call was ended after ${minutes(limits.idle_seconds)} without speech.`
        : 'The call was ended after a long silence.';
    case 'budget':
      return "This month's call budget is spent.";
    case 'provider_error':
      return 'The provider ended the call with an error.';
    case 'supervisor_lost':
      return 'The server lost track of the call.';
    case 'not_owned':
      return 'The call was refused: it was not the session the gateway opened.';
    case 'hung_up':
      return 'The call was hung up.';
    case 'agent_ended':
      return 'The assistant ended the call.';
    default:
      return call.end_reason_text || 'The call has ended.';
  }
}

/**
 * "0:42": what is left of a call, for the page.
 * @param {number} seconds
 * @returns {string}
 */
export function clock(seconds) {
  const whole = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, '0')}`;
}
