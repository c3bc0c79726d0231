import { SettingsPanel } from '../js/settings.js';
import { ChatView } from './chat-view.js';
import { SpeechStore } from './speech-store.js';

const root = document.getElementById('chat');
const store = new SpeechStore({
  sessionUrl: root.dataset.sessionUrl,
  telemetryUrl: root.dataset.telemetryUrl,
  negotiationTimeoutMs: Number(root.dataset.negotiationTimeoutMs),
  negotiationAttempts: Number(root.dataset.negotiationAttempts),
});
new ChatView(root, store);

const settings = document.getElementById('settings');
if (settings) {
  new SettingsPanel(settings, store).start().catch((error) => console.error('[settings]', error));
}
