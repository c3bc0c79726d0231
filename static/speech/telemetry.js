/** Reports how connecting went, for the operators' metrics. Fire and forget: never in the user's way. */

import { csrfToken } from './session-client.js';

/**
 * @param {string} url the telemetry endpoint
 * @param {{outcome: 'connected', connect_ms: number} | {outcome: 'failed', stage: string}} report
 */
export function reportConnect(url, report) {
  if (!url) return;
  fetch(url, {
    method: 'POST',
    credentials: 'same-origin',
    keepalive: true,
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
    body: JSON.stringify(report),
  }).catch(() => {});
}
