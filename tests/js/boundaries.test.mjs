/** Module boundaries of the chat page, checked on the source: who may know what. */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';

const STATIC = new URL('../../static/', import.meta.url).pathname;

function modules(dir = STATIC) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return modules(path);
    return entry.name.endsWith('.js') ? [[relative(STATIC, path), readFileSync(path, 'utf8')]] : [];
  });
}

const holding = (pattern) => modules().filter(([, source]) => pattern.test(source)).map(([path]) => path).sort();

test("only events/openai.js reads OpenAI's event names", () => {
  const names = /['"](session\.(created|update)|input_audio_buffer\.|output_audio_buffer\.|conversation\.item\.|response\.(create|cancel|done|output_))/;
  assert.deepEqual(holding(names), ['speech/events/openai.js']);
});

test('only http.js reads the CSRF cookie', () => {
  assert.deepEqual(holding(/csrftoken/), ['speech/http.js']);
});

test('only the transports touch WebRTC, and only main.js picks them', () => {
  assert.deepEqual(holding(/RTCPeerConnection|createDataChannel/), ['speech/transports/openai-webrtc.js']);
  assert.deepEqual(holding(/from '\.\/transports\/index\.js'|openai-webrtc\.js'/), ['speech/main.js', 'speech/transports/index.js']);
});

test('the settings panel binds no element outside its root', () => {
  const [[, source]] = modules().filter(([path]) => path === 'js/settings.js');
  assert.doesNotMatch(source, /document\./);
  assert.doesNotMatch(source, /store\.(addEventListener|state)|#transport|transport/);
});

test("the page's import graph stays inside static/ (the fake transport is the tests' own)", () => {
  const seen = new Set();
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    for (const [, target] of readFileSync(path, 'utf8').matchAll(/from '(\.[^']+)'/g)) visit(join(dirname(path), target));
  };
  visit(join(STATIC, 'speech/main.js'));
  const graph = [...seen].map((path) => relative(STATIC, path));
  assert.ok(graph.includes('speech/transports/openai-webrtc.js'));
  assert.deepEqual(graph.filter((path) => path.startsWith('..')), []);
});
