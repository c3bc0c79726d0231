/**
 * The chat page's settings panel: voice, model, microphone and turn mode for the user, and
 * the tenant's speech settings for its admins. Saved through the REST API.
 */

import { csrfToken } from '../speech/session-client.js';

async function api(url, method = 'GET', body = undefined) {
  const response = await fetch(url, {
    method,
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = response.status === 204 ? null : await response.json();
  if (!response.ok) {
    const error = new Error(answer?.error?.message || `HTTP ${response.status}`);
    error.fields = answer?.error?.fields || {};
    throw error;
  }
  return answer;
}

function fillSelect(select, values, chosen) {
  select.replaceChildren(...values.map((value) => new Option(value, value, false, value === chosen)));
}

export class SettingsPanel {
  /**
   * @param {HTMLElement} root the #settings element
   * @param {import('../speech/speech-store.js').SpeechStore} store
   */
  constructor(root, store) {
    this.root = root;
    this.store = store;
    this.urls = { me: root.dataset.meUrl, tenant: root.dataset.tenantUrl };
    this.el = {
      voice: root.querySelector('#pref-voice'),
      model: root.querySelector('#pref-model'),
      microphone: root.querySelector('#pref-microphone'),
      turnModes: root.querySelectorAll('input[name=turn-mode]'),
      note: root.querySelector('#pref-note'),
      talk: document.getElementById('talk'),
      tenant: root.querySelector('#tenant-settings'),
      tenantForm: root.querySelector('#tenant-form'),
      tenantNote: root.querySelector('#tenant-note'),
    };
  }

  /** Loads the user's preferences (and, for tenant admins, the tenant's settings) and binds the controls. */
  async start() {
    const me = await api(this.urls.me);
    fillSelect(this.el.voice, me.allowed_voices, me.voice);
    fillSelect(this.el.model, me.allowed_models, me.model);
    for (const radio of this.el.turnModes) radio.checked = radio.value === me.turn_mode;
    this.store.setTurnMode(me.turn_mode);
    this.el.voice.addEventListener('change', () => this.#savePreference({ voice: this.el.voice.value }));
    this.el.model.addEventListener('change', () => this.#savePreference({ model: this.el.model.value }));
    for (const radio of this.el.turnModes) {
      radio.addEventListener('change', () => {
        this.store.setTurnMode(radio.value);
        this.#savePreference({ turn_mode: radio.value }, 'Turn mode saved; it applies now.');
      });
    }
    this.#bindTalkButton();
    await this.#listMicrophones();
    navigator.mediaDevices.addEventListener?.('devicechange', () => this.#listMicrophones());
    this.el.microphone.addEventListener('change', () => {
      this.store.setMicrophoneDevice(this.el.microphone.value);
      this.#say('Microphone chosen; it applies to your next session.');
    });
    this.store.addEventListener('change', (event) => this.#render(event.detail));
    this.#render(this.store.state);
    if (me.tenant_admin) await this.#startTenantSettings();
  }

  async #savePreference(change, saved = 'Saved. It applies to your next session.') {
    try {
      await api(this.urls.me, 'PUT', change);
      this.#say(saved);
    } catch (error) {
      this.#say(`Not saved: ${Object.values(error.fields).flat().join(' ') || error.message}`);
    }
  }

  async #listMicrophones() {
    const devices = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'audioinput');
    const chosen = this.el.microphone.value;
    this.el.microphone.replaceChildren(
      new Option('Browser default', ''),
      ...devices.filter((d) => d.deviceId && d.deviceId !== 'default')
        .map((d, i) => new Option(d.label || `Microphone ${i + 1}`, d.deviceId, false, d.deviceId === chosen)),
    );
  }

  #bindTalkButton() {
    const { talk } = this.el;
    const start = (event) => { event.preventDefault(); this.store.startTalking(); };
    const stop = () => this.store.stopTalking();
    talk.addEventListener('pointerdown', start);
    talk.addEventListener('pointerup', stop);
    talk.addEventListener('pointerleave', stop);
    talk.addEventListener('keydown', (event) => { if (event.key === ' ' && !event.repeat) start(event); });
    talk.addEventListener('keyup', (event) => { if (event.key === ' ') stop(); });
  }

  #render(state) {
    const pushToTalk = state.turnMode === 'push_to_talk';
    this.el.talk.hidden = !pushToTalk;
    this.el.talk.disabled = state.status !== 'connected';
    this.el.talk.setAttribute('aria-pressed', String(state.talking));
    this.el.talk.textContent = state.talking ? 'Release to send' : 'Hold to talk';
  }

  async #startTenantSettings() {
    const settings = await api(this.urls.tenant);
    const form = this.el.tenantForm;
    form.elements.voice.value = settings.voice;
    form.elements.instructions.value = settings.instructions;
    form.elements.turn_detection.value = settings.turn_detection;
    this.el.tenant.querySelector('#tenant-summary').textContent =
      `${settings.provider} · ${settings.model} · key ${settings.credential.replace('_', ' ')}`;
    this.el.tenant.hidden = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api(this.urls.tenant, 'PATCH', {
          voice: form.elements.voice.value,
          instructions: form.elements.instructions.value,
          turn_detection: form.elements.turn_detection.value,
        });
        this.el.tenantNote.textContent = "Saved. New sessions of the tenant's users use it.";
      } catch (error) {
        this.el.tenantNote.textContent = `Not saved: ${Object.values(error.fields).flat().join(' ') || error.message}`;
      }
    });
  }

  #say(text) {
    this.el.note.textContent = text;
  }
}
