// The browser side of tests/e2e/test_agents_sdk.py: OpenAI's Agents SDK for realtime, as an integrator
// would use it, against a session minted by the gateway. Bundled by esbuild into one IIFE at test time.
//
// window.agentsTest.start({mintUrl, headers, csrf}) mints, connects and records into window.agentsTest:
//   events   every transport event's type, in order (the server's and the SDK's own)
//   errors   every `error` event of the session, as text
//   history  the session's history (plain JSON), after each history_updated
//   tools    each tool run: {name, args, result}
//   status   'minting' | 'connecting' | 'connected' | 'failed: <why>'

import { OpenAIRealtimeWebRTC, RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';

const state = { events: [], errors: [], history: [], tools: [], status: 'idle', session: null };

const checkOrder = tool({
  name: 'check_order',
  description: 'Tells where an order is.',
  parameters: z.object({ order_id: z.string() }),
  execute: async ({ order_id }) => {
    state.tools.push({ name: 'check_order', args: { order_id }, result: 'shipped on Monday' });
    return 'shipped on Monday';
  },
});

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

function describe(error) {
  const inner = error?.error ?? error;
  if (inner instanceof Error) return `${inner.name}: ${inner.message}`;
  try {
    return JSON.stringify(inner);
  } catch {
    return String(inner);
  }
}

async function mint({ mintUrl, headers = {}, csrf = false }) {
  const sent = { 'Content-Type': 'application/json', ...headers };
  if (csrf) sent['X-CSRFToken'] = csrfToken();
  const answer = await fetch(mintUrl, {
    method: 'POST',
    headers: sent,
    body: '{}',
    credentials: csrf ? 'same-origin' : 'omit',
  });
  const body = await answer.json();
  if (!answer.ok) throw new Error(`mint answered ${answer.status}: ${JSON.stringify(body)}`);
  return body;
}

async function start(options) {
  try {
    state.status = 'minting';
    const minted = await mint(options);
    state.minted = { model: minted.model, webrtc: minted.webrtc };
    const agent = new RealtimeAgent({
      name: 'Support',
      instructions: 'Answer questions about orders; use check_order for an order.',
      tools: [checkOrder],
    });
    const transport = new OpenAIRealtimeWebRTC({ baseUrl: minted.webrtc.url });
    const session = new RealtimeSession(agent, { transport, model: minted.model });
    state.session = session;
    session.on('transport_event', (event) => state.events.push(event.type));
    session.on('error', (error) => state.errors.push(describe(error)));
    session.on('history_updated', (history) => {
      state.history = JSON.parse(JSON.stringify(history));
    });
    state.status = 'connecting';
    await session.connect({ apiKey: minted.client_secret.value });
    state.status = 'connected';
  } catch (error) {
    state.status = `failed: ${describe(error)}`;
  }
}

function say(text) {
  state.session.sendMessage(text);
}

function close() {
  state.session?.close();
}

window.agentsTest = Object.assign(state, { start, say, close });
