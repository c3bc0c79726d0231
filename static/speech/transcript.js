/**
 * Folds data-channel events into transcript entries: [{id, role, text, pending}].
 * Pure functions, so the view renders whatever this returns.
 */

const USER_TRANSCRIPT = new Map([
  ['conversation.item.input_audio_transcription.delta', 'delta'],
  ['conversation.item.input_audio_transcription.completed', 'done'],
]);
const ASSISTANT_TRANSCRIPT = new Map([
  ['response.output_audio_transcript.delta', 'delta'],
  ['response.output_audio_transcript.done', 'done'],
  ['response.output_text.delta', 'delta'],
  ['response.output_text.done', 'done'],
]);

function upsert(entries, id, role, change) {
  const index = entries.findIndex((entry) => entry.id === id);
  if (index === -1) return [...entries, { id, role, text: '', pending: true, ...change(null) }];
  const next = entries.slice();
  next[index] = { ...entries[index], ...change(entries[index]) };
  return next;
}

/**
 * @param {Array<{id: string, role: string, text: string, pending: boolean}>} entries
 * @param {object} event a server event from the data channel
 * @returns the new entries (the same array when the event changes nothing)
 */
export function applyEvent(entries, event) {
  const type = event.type;
  if (type === 'conversation.item.added' && event.item?.role === 'user'
      && event.item.content?.some((part) => part.type === 'input_audio')) {
    // Holds the user's place before the transcription arrives.
    return upsert(entries, event.item.id, 'user', (old) => (old ? {} : { text: '…' }));
  }
  if (USER_TRANSCRIPT.has(type)) {
    const done = USER_TRANSCRIPT.get(type) === 'done';
    return upsert(entries, event.item_id, 'user', (old) => {
      const before = old && old.text !== '…' ? old.text : '';
      return { text: done ? event.transcript : before + event.delta, pending: !done };
    });
  }
  if (type === 'conversation.item.input_audio_transcription.failed') {
    return upsert(entries, event.item_id, 'user', () => ({ text: '(not transcribed)', pending: false }));
  }
  if (ASSISTANT_TRANSCRIPT.has(type)) {
    const done = ASSISTANT_TRANSCRIPT.get(type) === 'done';
    return upsert(entries, event.item_id, 'assistant', (old) => ({
      text: done ? (event.transcript ?? event.text) : (old?.text || '') + event.delta,
      pending: !done,
    }));
  }
  return entries;
}

/** Adds a message the user typed. */
export function addTypedMessage(entries, id, text) {
  return [...entries, { id, role: 'user', text, pending: false }];
}
