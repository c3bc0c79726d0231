/**
 * OpenAI Realtime's event vocabulary (GA interface; Azure OpenAI and the local provider speak it
 * too). The only module that reads OpenAI's event type names: server events come in through
 * normalise(), client events go out through the builders below. Pure functions.
 *
 * Neutral events are plain objects with a `type`:
 *   {type: 'session.started', turnDetection}        the provider accepted the session
 *                                                   (turnDetection: the vendor's own voice
 *                                                   activity config, opaque to the store)
 *   {type: 'user.speech_started'} / {type: 'user.speech_stopped'}
 *   {type: 'assistant.speaking', speaking}
 *   {type: 'transcript.started', role, id}         holds a place before the text arrives
 *   {type: 'transcript.delta', role, id, text}
 *   {type: 'transcript.done', role, id, text}
 *   {type: 'transcript.failed', role, id}
 *   {type: 'error', message, code}                 the provider reported an error
 *   {type: 'response.failed', message, code}       a response ended in failure
 *   {type: 'tool', id, name?, arguments?, state, error?}
 *                                                   a tool run: state 'running' | 'done' | 'failed';
 *                                                   name and arguments (an object, or the model's
 *                                                   raw text when it is not JSON) when the event
 *                                                   carries them; error: the output's error code
 *
 * Tools run on the server (the gateway's supervisor answers function calls; the provider calls MCP
 * servers itself): the page only watches, from the events every participant of the call sees.
 */

const ASSISTANT_DELTA = new Set(['response.output_audio_transcript.delta', 'response.output_text.delta']);
const ASSISTANT_DONE = new Set(['response.output_audio_transcript.done', 'response.output_text.done']);

/**
 * Translates one server event from the data channel.
 * @param {object} event an OpenAI Realtime server event
 * @returns {?object} the neutral event, or null when the event means nothing to the page
 */
export function normalise(event) {
  const type = event?.type;
  switch (type) {
    case 'session.created':
      return { type: 'session.started', turnDetection: event.session?.audio?.input?.turn_detection ?? null };
    case 'input_audio_buffer.speech_started':
      return { type: 'user.speech_started' };
    case 'input_audio_buffer.speech_stopped':
      return { type: 'user.speech_stopped' };
    case 'output_audio_buffer.started':
      return { type: 'assistant.speaking', speaking: true };
    case 'output_audio_buffer.stopped':
    case 'output_audio_buffer.cleared':
      return { type: 'assistant.speaking', speaking: false };
    case 'conversation.item.added':
      if (event.item?.role === 'user' && event.item.content?.some((part) => part.type === 'input_audio')) {
        return { type: 'transcript.started', role: 'user', id: event.item.id };
      }
      return toolItem(event.item);
    case 'conversation.item.created': // the beta interface's name for .added
    case 'conversation.item.done':
    case 'response.output_item.added':
    case 'response.output_item.done':
      return toolItem(event.item);
    case 'response.function_call_arguments.done':
      return tool(event.call_id, { name: event.name, arguments: event.arguments, state: 'running' });
    case 'response.mcp_call_arguments.done':
      return tool(event.item_id, { arguments: event.arguments, state: 'running' });
    case 'response.mcp_call.completed':
      return tool(event.item_id, { state: 'done' });
    case 'response.mcp_call.failed':
      return tool(event.item_id, { state: 'failed' });
    case 'conversation.item.input_audio_transcription.delta':
      return { type: 'transcript.delta', role: 'user', id: event.item_id, text: event.delta ?? '' };
    case 'conversation.item.input_audio_transcription.completed':
      return { type: 'transcript.done', role: 'user', id: event.item_id, text: event.transcript ?? '' };
    case 'conversation.item.input_audio_transcription.failed':
      return { type: 'transcript.failed', role: 'user', id: event.item_id };
    case 'error':
      return {
        type: 'error',
        message: event.error?.message || 'The provider reported an error.',
        code: event.error?.code || event.error?.type || '',
      };
    case 'response.done': {
      if (event.response?.status !== 'failed') return null;
      const error = event.response.status_details?.error;
      return {
        type: 'response.failed',
        message: error?.message || error?.code || 'The model could not answer.',
        code: error?.code || '',
      };
    }
    default:
      break;
  }
  if (ASSISTANT_DELTA.has(type)) {
    return { type: 'transcript.delta', role: 'assistant', id: event.item_id, text: event.delta ?? '' };
  }
  if (ASSISTANT_DONE.has(type)) {
    return { type: 'transcript.done', role: 'assistant', id: event.item_id, text: event.transcript ?? event.text ?? '' };
  }
  return null;
}

/**
 * A tool event, or null without an id. Arguments arrive as the model wrote them (a JSON string).
 * @param {*} id the function call's call_id, or an MCP call's item id
 * @param {{name?: *, arguments?: *, state: string, error?: string}} fields
 */
function tool(id, { name, arguments: args, state, error }) {
  if (typeof id !== 'string' || !id) return null;
  const neutral = { type: 'tool', id, state };
  if (typeof name === 'string' && name) neutral.name = name;
  if (typeof args === 'string' && args) neutral.arguments = parseArguments(args);
  if (error) neutral.error = error;
  return neutral;
}

function parseArguments(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text; // the model's own words; the server refuses them, the page just shows them
  }
}

/**
 * The code of an error the tool's output carries ({"error": {"code": ...}} is the gateway's shape),
 * '' when the output is no error.
 */
function outputError(output) {
  let value = output;
  if (typeof output === 'string') {
    try {
      value = JSON.parse(output);
    } catch {
      return '';
    }
  }
  const error = value && typeof value === 'object' && !Array.isArray(value) ? value.error : null;
  if (!error) return '';
  const code = typeof error === 'object' ? error.code : error;
  return typeof code === 'string' && code ? code : 'error';
}

/** A conversation item that is a tool call or a tool's output, as a tool event; null for others. */
function toolItem(item) {
  switch (item?.type) {
    case 'function_call':
      return tool(item.call_id, { name: item.name, arguments: item.arguments, state: 'running' });
    case 'function_call_output': {
      const error = outputError(item.output);
      return tool(item.call_id, { state: error ? 'failed' : 'done', error });
    }
    case 'mcp_call': {
      // The provider adds it running and, once the server answered, done with its output or error.
      if (!item.output && !item.error) return tool(item.id, { name: item.name, arguments: item.arguments, state: 'running' });
      const error = item.error ? (outputError({ error: item.error }) || 'error') : '';
      return tool(item.id, { name: item.name, arguments: item.arguments, state: error ? 'failed' : 'done', error });
    }
    default:
      return null;
  }
}

/** Client events, in the order they are sent. */
export const clientEvents = {
  /** A typed user message, then a request for an answer. */
  text: (text) => [
    { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } },
    { type: 'response.create' },
  ],
  /** Push-to-talk pressed: forget what the microphone sent before. */
  startTalking: () => [{ type: 'input_audio_buffer.clear' }],
  /** Push-to-talk released: what was said is the user's turn; answer it. */
  stopTalking: () => [{ type: 'input_audio_buffer.commit' }, { type: 'response.create' }],
  /** Interrupts the assistant: stop the response and drop its queued audio. */
  cancel: () => [{ type: 'response.cancel' }, { type: 'output_audio_buffer.clear' }],
  /**
   * Turns the provider's voice activity detection on (with the given config) or off (null).
   * @param {?object} turnDetection
   */
  turnDetection: (turnDetection) => [
    { type: 'session.update', session: { type: 'realtime', audio: { input: { turn_detection: turnDetection } } } },
  ],
};

/** The voice activity detection a session falls back to when its own config is unknown. */
export const DEFAULT_VOICE_ACTIVITY = Object.freeze({ type: 'server_vad' });
