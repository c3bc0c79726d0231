/**
 * The chat page's settings panel: voice, model, microphone and turn mode for the user, and
 * the tenant's speech settings for its admins (the chosen provider's catalog and options, from
 * GET /api/v1/providers, and a sample of each voice). Saved through the REST API. It binds only the
 * elements inside its own root, and knows the speech store only through its public methods.
 */

import { gatewayFetch, gatewayJson } from '../speech/http.js';

function fillSelect(select, values, chosen) {
  select.replaceChildren(...values.map((value) => new Option(value, value, false, value === chosen)));
}

function fillMultiple(select, values, chosen) {
  select.replaceChildren(...values.map((value) => new Option(value, value, false, chosen.includes(value))));
}

function selectedValues(select) {
  return [...select.selectedOptions].map((option) => option.value);
}

/**
 * One input for an option described by its JSON Schema (GET /api/v1/providers), with its help and
 * a place for its message. Blank means the provider's default.
 * @param {Document} doc the page's document (the panel's root's ownerDocument)
 * @param {string} name
 * @param {{type: string, enum?: string[], minimum?: number, maximum?: number, maxLength?: number,
 *   description?: string}} spec
 * @param {*} value the saved value, or undefined
 * @returns {HTMLLabelElement}
 */
export function optionInput(doc, name, spec, value) {
  const label = doc.createElement('label');
  label.append(name.replaceAll('_', ' '));
  let input;
  if (spec.enum || spec.type === 'boolean') {
    input = doc.createElement('select');
    const choices = spec.enum ? spec.enum.map((choice) => [choice, choice]) : [['true', 'Yes'], ['false', 'No']];
    input.replaceChildren(new Option('Default', ''), ...choices.map(([v, text]) => new Option(text, v)));
    input.value = value === undefined ? '' : String(value);
  } else {
    input = doc.createElement('input');
    if (spec.type === 'number' || spec.type === 'integer') {
      input.type = 'number';
      input.step = spec.type === 'integer' ? '1' : 'any';
      if (spec.minimum !== undefined) input.min = spec.minimum;
      if (spec.maximum !== undefined) input.max = spec.maximum;
    } else if (spec.maxLength) {
      input.maxLength = spec.maxLength;
    }
    input.value = value === undefined ? '' : String(value);
  }
  input.name = `option-${name}`;
  input.dataset.option = name;
  input.dataset.type = spec.type;
  label.append(input);
  if (spec.description) label.append(Object.assign(doc.createElement('small'), { className: 'option-help', textContent: spec.description }));
  label.append(Object.assign(doc.createElement('small'), { className: 'option-error', role: 'alert' }));
  return label;
}

/** The options the inputs hold, leaving out those left at the default. */
function optionValues(fieldset) {
  const options = {};
  for (const input of fieldset.querySelectorAll('[data-option]')) {
    if (input.value === '') continue;
    const { type } = input.dataset;
    options[input.dataset.option] =
      type === 'boolean' ? input.value === 'true' : type === 'number' || type === 'integer' ? Number(input.value) : input.value;
  }
  return options;
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
    this.urls = {
      me: root.dataset.meUrl,
      tenant: root.dataset.tenantUrl,
      providers: root.dataset.providersUrl,
      preview: root.dataset.previewUrl,
    };
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
      tenantModels: root.querySelector('#tenant-models'),
      tenantOptions: root.querySelector('#tenant-options'),
      play: root.querySelector('#tenant-voice-play'),
      playAudio: root.querySelector('#tenant-voice-audio'),
      playNote: root.querySelector('#tenant-voice-note'),
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
    const [settings, providers] = await Promise.all([gatewayJson(this.urls.tenant), gatewayJson(this.urls.providers)]);
    this.providers = Object.fromEntries(providers.map((provider) => [provider.id, provider]));
    const form = this.el.tenantForm;
    form.elements.provider.replaceChildren(...providers.map((p) => new Option(p.name, p.id, false, p.id === settings.provider)));
    form.elements.model.value = settings.model;
    this.#showProvider(settings.provider, {
      voice: settings.voice,
      options: settings.options,
      allowedVoices: settings.allowed_voices,
      allowedModels: settings.allowed_models,
    });
    // The allowed lists are sent only once changed here: the API answers the effective lists (every voice
    // when none is listed), and sending them back would list them all.
    this.allowedChanged = new Set();
    for (const name of ['allowed_voices', 'allowed_models']) {
      form.elements[name].addEventListener('change', () => this.allowedChanged.add(name));
    }
    form.elements.instructions.value = settings.instructions;
    form.elements.turn_detection.value = settings.turn_detection;
    this.el.tenantSummary.textContent =
      `${settings.provider} · ${settings.model} · key ${settings.credential.replace('_', ' ')}`;
    this.el.tenant.hidden = false;
    form.elements.provider.addEventListener('change', () => {
      // As a save would: the new provider's defaults for what does not fit it.
      const provider = this.providers[form.elements.provider.value];
      if (!provider.models.includes(form.elements.model.value)) form.elements.model.value = provider.default_model;
      // A new provider starts with every voice and only its default model allowed, as a save makes it.
      this.#showProvider(provider.id, {
        voice: form.elements.voice.value, options: {}, allowedVoices: provider.voices, allowedModels: [provider.default_model],
      });
      this.allowedChanged.clear();
    });
    this.el.play.addEventListener('click', () => this.#playVoice());
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      for (const error of form.querySelectorAll('.option-error')) error.textContent = '';
      this.el.tenantNote.textContent = 'Saving…';
      try {
        await gatewayJson(this.urls.tenant, {
          method: 'PATCH',
          body: {
            provider: form.elements.provider.value,
            model: form.elements.model.value,
            voice: form.elements.voice.value,
            options: optionValues(this.el.tenantOptions),
            ...Object.fromEntries([...this.allowedChanged].map((name) => [name, selectedValues(form.elements[name])])),
            instructions: form.elements.instructions.value,
            turn_detection: form.elements.turn_detection.value,
          },
        });
        this.el.tenantNote.textContent = "Saved. New sessions of the tenant's users use it.";
      } catch (error) {
        this.#showOptionErrors(error.fields.options || []);
        this.el.tenantNote.textContent = `Not saved: ${Object.values(error.fields).flat().join(' ') || error.message}`;
      }
    });
  }

  /** The provider's models, voices and options in the tenant form. */
  #showProvider(providerId, { voice, options, allowedVoices, allowedModels }) {
    const provider = this.providers[providerId];
    const form = this.el.tenantForm;
    this.el.tenantModels.replaceChildren(...provider.models.map((model) => new Option(model, model)));
    fillSelect(form.elements.voice, provider.voices, provider.voices.includes(voice) ? voice : provider.default_voice);
    fillMultiple(form.elements.allowed_voices, provider.voices, allowedVoices);
    // Azure names no models (deployments are the owner's): its allowed models are set in admin or the API.
    fillMultiple(form.elements.allowed_models, provider.models, allowedModels);
    this.el.tenantForm.querySelector('#tenant-allowed-models').hidden = provider.models.length === 0;
    const specs = Object.entries(provider.options.properties || {});
    this.el.tenantOptions.replaceChildren(
      this.el.tenantOptions.querySelector('legend'),
      ...specs.map(([name, spec]) => optionInput(this.root.ownerDocument, name, spec, options[name])),
    );
    this.el.tenantOptions.hidden = specs.length === 0;
    this.el.playNote.textContent = '';
  }

  /** The API names a bad option as "name: message"; each goes under its own input. */
  #showOptionErrors(messages) {
    for (const message of messages) {
      const [name, ...rest] = message.split(': ');
      const input = this.el.tenantOptions.querySelector(`[data-option="${CSS.escape(name)}"]`);
      if (input) input.parentElement.querySelector('.option-error').textContent = rest.join(': ');
    }
  }

  /** A sample of the chosen voice from the chosen provider (POST .../voice_preview), played here. */
  async #playVoice() {
    const form = this.el.tenantForm;
    const voice = form.elements.voice.value;
    const audio = this.el.playAudio;
    this.el.play.disabled = true;
    this.el.playNote.textContent = `Fetching a sample of ${voice}…`;
    try {
      const response = await gatewayFetch(this.urls.preview, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ voice, provider: form.elements.provider.value }),
      });
      if (!response.ok) {
        const answer = await response.json().catch(() => ({}));
        this.el.playNote.textContent = answer.error?.message || `The sample failed (HTTP ${response.status}).`;
        return;
      }
      if (audio.src) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(await response.blob());
      audio.onplaying = () => { audio.dataset.state = 'playing'; this.el.playNote.textContent = `Playing ${voice}.`; };
      audio.onended = () => { audio.dataset.state = 'ended'; this.el.playNote.textContent = ''; };
      await audio.play();
    } catch (error) {
      this.el.playNote.textContent = `The sample cannot play: ${error.message}`;
    } finally {
      this.el.play.disabled = false;
    }
  }

  #say(text) {
    this.el.note.textContent = text;
  }
}
