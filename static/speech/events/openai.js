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
      return null;
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
