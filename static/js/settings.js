/**
 * The chat page's settings panel: voice, model, microphone and turn mode for the user, and
 * the tenant's speech settings for its admins. Saved through the REST API. It binds only the
 * elements inside its own root, and knows the speech store only through its public methods.
 */

import { gatewayJson } from '../speech/http.js';

function fillSelect(select, values, chosen) {
  select.replaceChildren(...values.map((value) => new Option(value, value, false, value === chosen)));
}

export class SettingsPanel {
  /**
   * @param {HTMLElement} root the #settings element
   * @param {import('../speech/speech-store.js').SpeechStore} store told of the microphone and of
   *   the user's turn mode choices
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
      tenant: root.querySelector('#tenant-settings'),
      tenantForm: root.querySelector('#tenant-form'),
      tenantNote: root.querySelector('#tenant-note'),
      tenantSummary: root.querySelector('#tenant-summary'),
    };
  }

  /** Loads the user's preferences (and, for tenant admins, the tenant's settings) and binds the controls. */
  async start() {
    const me = await gatewayJson(this.urls.me);
    fillSelect(this.el.voice, me.allowed_voices, me.voice);
    fillSelect(this.el.model, me.allowed_models, me.model);
    for (const radio of this.el.turnModes) radio.checked = radio.value === me.turn_mode;
    this.store.showTurnMode(me.turn_mode);
    this.el.voice.addEventListener('change', () => this.#savePreference({ voice: this.el.voice.value }));
    this.el.model.addEventListener('change', () => this.#savePreference({ model: this.el.model.value }));
    for (const radio of this.el.turnModes) {
      radio.addEventListener('change', () => {
        this.store.setTurnMode(radio.value);
        this.#savePreference({ turn_mode: radio.value }, 'Turn mode saved; it applies now.');
      });
    }
    await this.#listMicrophones();
    navigator.mediaDevices.addEventListener?.('devicechange', () => this.#listMicrophones());
    this.el.microphone.addEventListener('change', () => {
      this.store.setMicrophoneDevice(this.el.microphone.value);
      this.#say('Microphone chosen; it applies to your next session.');
    });
    if (me.tenant_admin) await this.#startTenantSettings();
  }

  async #savePreference(change, saved = 'Saved. It applies to your next session.') {
    try {
      await gatewayJson(this.urls.me, { method: 'PUT', body: change });
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

  async #startTenantSettings() {
    const settings = await gatewayJson(this.urls.tenant);
    const form = this.el.tenantForm;
    form.elements.voice.value = settings.voice;
    form.elements.instructions.value = settings.instructions;
    form.elements.turn_detection.value = settings.turn_detection;
    this.el.tenantSummary.textContent =
      `${settings.provider} · ${settings.model} · key ${settings.credential.replace('_', ' ')}`;
    this.el.tenant.hidden = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await gatewayJson(this.urls.tenant, {
          method: 'PATCH',
          body: {
            voice: form.elements.voice.value,
            instructions: form.elements.instructions.value,
            turn_detection: form.elements.turn_detection.value,
          },
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
