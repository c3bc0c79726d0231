/**
 * Folds neutral transcript events (see events/openai.js) into transcript entries:
 * [{id, role, text, pending}]. Pure functions, so the view renders whatever this returns.
 */

const PLACEHOLDER = '…';

function upsert(entries, id, role, change) {
  const index = entries.findIndex((entry) => entry.id === id);
  if (index === -1) return [...entries, { id, role, text: '', pending: true, ...change(null) }];
  const next = entries.slice();
  next[index] = { ...entries[index], ...change(entries[index]) };
  return next;
}

/**
 * @param {Array<{id: string, role: string, text: string, pending: boolean}>} entries
 * @param {{type: string, role?: string, id?: string, text?: string}} event a neutral event
 * @returns the new entries (the same array when the event changes nothing)
 */
export function applyEvent(entries, event) {
  const { type, role, id } = event;
  switch (type) {
    case 'transcript.started': // holds the speaker's place before the text arrives
      return upsert(entries, id, role, (old) => (old ? {} : { text: PLACEHOLDER }));
    case 'transcript.delta':
      return upsert(entries, id, role, (old) => {
        const before = old && old.text !== PLACEHOLDER ? old.text : '';
        return { text: before + event.text, pending: true };
      });
    case 'transcript.done':
      return upsert(entries, id, role, () => ({ text: event.text, pending: false }));
    case 'transcript.failed':
      return upsert(entries, id, role, () => ({ text: '(not transcribed)', pending: false }));
    default:
      return entries;
  }
}

/** Adds a message the user typed. */
export function addTypedMessage(entries, id, text) {
  return [...entries, { id, role: 'user', text, pending: false }];
}
