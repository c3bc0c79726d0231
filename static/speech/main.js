import { SettingsPanel } from '../js/settings.js';
import { ChatView } from './chat-view.js';
import { SpeechStore } from './speech-store.js';
import { createTransport } from './transports/index.js';

const root = document.getElementById('chat');
const store = new SpeechStore({
  sessionUrl: root.dataset.sessionUrl,
  telemetryUrl: root.dataset.telemetryUrl,
  callsUrl: root.dataset.callsUrl,
  negotiationTimeoutMs: Number(root.dataset.negotiationTimeoutMs),
  negotiationAttempts: Number(root.dataset.negotiationAttempts),
  createTransport,
});
new ChatView(root, store, { toasts: document.getElementById('toasts') });

const settings = document.getElementById('settings');
if (settings) {
  new SettingsPanel(settings, store).start().catch((error) => console.error('[settings]', error));
}
