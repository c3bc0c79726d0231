/**
 * Requests to the gateway itself. The only module that reads Django's CSRF cookie: the token
 * rides on same-origin requests only, so it never reaches a provider or any other host.
 */

export class HttpError extends Error {
  /**
   * @param {string} message what the server said, for the person
   * @param {{code?: string, status?: number, fields?: object}} details the stable error code,
   *   the HTTP status (0: the gateway was not reached) and any per-field messages
   */
  constructor(message, { code = 'network_error', status = 0, fields = {} } = {}) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    this.status = status;
    this.fields = fields;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

function isSameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

/**
 * fetch() to the gateway with the page's session cookie and its CSRF token.
 * @param {string} url a URL of this page's own origin (another origin is refused)
 * @param {RequestInit} [init]
 * @returns {Promise<Response>}
 */
export function gatewayFetch(url, init = {}) {
  if (!isSameOrigin(url)) return Promise.reject(new TypeError(`Not the gateway's origin: ${url}`));
  const headers = new Headers(init.headers);
  headers.set('X-CSRFToken', csrfToken());
  return fetch(url, { ...init, headers, credentials: 'same-origin' });
}

/**
 * A JSON request to the gateway. Resolves with the answer's body (null for 204); rejects with an
 * HttpError carrying the gateway's `{"error": {"code", "message", "fields"}}`.
 * @param {string} url
 * @param {{method?: string, body?: *, keepalive?: boolean}} [options]
 * @returns {Promise<*>}
 */
export async function gatewayJson(url, { method = 'GET', body = undefined, keepalive = false } = {}) {
  let response;
  try {
    response = await gatewayFetch(url, {
      method,
      keepalive,
      headers: { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new HttpError(`The gateway cannot be reached (${error.message}).`);
  }
  let answer = null;
  if (response.status !== 204) {
    try {
      answer = await response.json();
    } catch {
      // an error page instead of JSON; reported below
    }
  }
  if (!response.ok) {
    const error = answer?.error || {};
    throw new HttpError(error.message || `HTTP ${response.status}`, {
      code: error.code || 'http_error',
      status: response.status,
      fields: error.fields || {},
    });
  }
  return answer;
}
