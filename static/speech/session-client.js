/** Asks the gateway for a realtime session (POST /realtime_session). */

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

/** The CSRF token Django set in its cookie. */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

/**
 * Mints a session. The answer holds the client secret: hand it straight to the
 * connection code and keep no other reference to it.
 * @param {string} url the gateway's session URL
 * @param {{model?: string, voice?: string}} [request]
 * @returns {Promise<object>} the session payload
 */
export async function requestSession(url, request = {}) {
  let response;
  try {
    response = await fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
      body: JSON.stringify(request),
    });
  } catch (error) {
    throw new SessionError(`The gateway cannot be reached (${error.message}).`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    // an error page instead of JSON; reported below
  }
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new SessionError(error.message || `HTTP ${response.status}`, {
      code: error.code || 'http_error',
      status: response.status,
    });
  }
  return body;
}
