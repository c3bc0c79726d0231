/**
 * Folds neutral transcript and tool events (see events/openai.js) into transcript entries:
 * [{id, role, text, pending}], a tool run adding {role: 'tool', tool: {name, arguments, state,
 * error}} in the place of its first event. Pure functions, so the view renders whatever this returns.
 */

const PLACEHOLDER = '…';
const VALUE_CHARS = 24; // per argument value in a tool's line
const SUMMARY_CHARS = 60; // all of its arguments
const ERROR_CHARS = 40;
const SETTLED = new Set(['done', 'failed']);

const clip = (text, limit) => (text.length > limit ? `${text.slice(0, limit - 1)}…` : text);

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
    case 'tool':
      return upsert(entries, `tool-${id}`, 'tool', (old) => {
        const before = old?.tool ?? { name: '', arguments: null, state: 'running', error: '' };
        const tool = {
          name: before.name || event.name || '',
          arguments: event.arguments ?? before.arguments,
          // A settled run stays settled: a late item event of the call must not set it running again.
          state: SETTLED.has(before.state) ? before.state : event.state,
          error: before.error || event.error || '',
        };
        return { tool, text: toolLine(tool), pending: tool.state === 'running' };
      });
    default:
      return entries;
  }
}

/** Adds a message the user typed. */
export function addTypedMessage(entries, id, text) {
  return [...entries, { id, role: 'user', text, pending: false }];
}

/**
 * A short summary of a tool's arguments: "order=123, express=true".
 * @param {*} args an object, or the model's raw text
 */
export function argumentSummary(args) {
  if (args === null || args === undefined) return '';
  if (typeof args === 'string') return clip(args, SUMMARY_CHARS);
  if (typeof args !== 'object' || Array.isArray(args)) return clip(JSON.stringify(args), SUMMARY_CHARS);
  const pairs = Object.entries(args).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value);
    return `${key}=${clip(String(text), VALUE_CHARS)}`;
  });
  return clip(pairs.join(', '), SUMMARY_CHARS);
}

/**
 * A tool run in words: "check_order(order=123)…", then "…: done" or "…: failed (webhook_timeout)".
 * @param {{name: string, arguments: *, state: string, error: string}} tool
 */
export function toolLine(tool) {
  const call = `${tool.name || 'tool'}(${argumentSummary(tool.arguments)})`;
  if (tool.state === 'done') return `${call}: done`;
  if (tool.state === 'failed') return `${call}: failed${tool.error ? ` (${clip(tool.error, ERROR_CHARS)})` : ''}`;
  return `${call}…`;
}
