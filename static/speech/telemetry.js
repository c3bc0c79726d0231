/** Reports how connecting went, for the operators' metrics. Fire and forget: never in the user's way. */

import { gatewayJson } from './http.js';

/**
 * @param {string} url the telemetry endpoint
 * @param {{outcome: 'connected', connect_ms: number} | {outcome: 'failed', stage: string}} report
 */
export function reportConnect(url, report) {
  if (!url) return;
  gatewayJson(url, { method: 'POST', body: report, keepalive: true }).catch(() => {});
}
