import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { gatewayFetch, gatewayJson, HttpError } from '../../static/speech/http.js';

let requests;

function answer(response) {
  globalThis.fetch = async (url, init) => {
    requests.push({ url, ...init });
    if (response instanceof Error) throw response;
    return response;
  };
}

beforeEach(() => {
  requests = [];
  globalThis.document = { cookie: 'sessionid=x; csrftoken=abc%3D' };
  globalThis.location = { href: 'http://gateway.test/chat', origin: 'http://gateway.test' };
});

afterEach(() => {
  delete globalThis.document;
  delete globalThis.location;
  delete globalThis.fetch;
});

test("a request to the gateway carries the page's cookies and its CSRF token", async () => {
  answer(new Response(JSON.stringify({ voice: 'cedar' }), { status: 200 }));
  assert.deepEqual(await gatewayJson('/api/v1/settings/me', { method: 'PUT', body: { voice: 'cedar' } }), { voice: 'cedar' });
  const [request] = requests;
  assert.equal(request.method, 'PUT');
  assert.equal(request.credentials, 'same-origin');
  assert.equal(request.headers.get('X-CSRFToken'), 'abc=');
  assert.equal(request.headers.get('Content-Type'), 'application/json');
  assert.equal(request.body, '{"voice":"cedar"}');
});

test('the CSRF token never goes to another origin', async () => {
  answer(new Response('', { status: 200 }));
  await assert.rejects(gatewayFetch('https://provider.test/v1/realtime/calls', { method: 'POST' }), TypeError);
  assert.equal(requests.length, 0);
});

test('204 answers nothing', async () => {
  answer(new Response(null, { status: 204 }));
  assert.equal(await gatewayJson('/api/v1/telemetry/connect', { method: 'POST', body: {} }), null);
});

test("the gateway's error shape becomes an HttpError", async () => {
  const body = { error: { code: 'invalid_request', message: 'The request body is not valid.', fields: { voice: ['not a voice'] } } };
  answer(new Response(JSON.stringify(body), { status: 400 }));
  const error = await gatewayJson('/x').catch((e) => e);
  assert.ok(error instanceof HttpError);
  assert.deepEqual([error.message, error.code, error.status, error.fields],
    ['The request body is not valid.', 'invalid_request', 400, { voice: ['not a voice'] }]);
});

test('an error page and an unreachable gateway are said plainly', async () => {
  answer(new Response('<h1>Bad gateway</h1>', { status: 502 }));
  const page = await gatewayJson('/x').catch((e) => e);
  assert.deepEqual([page.message, page.code, page.status], ['HTTP 502', 'http_error', 502]);
  answer(new TypeError('Failed to fetch'));
  const down = await gatewayJson('/x').catch((e) => e);
  assert.deepEqual([down.message, down.code, down.status], ['The gateway cannot be reached (Failed to fetch).', 'network_error', 0]);
});
