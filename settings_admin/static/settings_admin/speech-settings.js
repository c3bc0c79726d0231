/*
 * The speech settings form in Django admin (a tenant's page, and its speech settings' own): follows a change
 * of provider without a save round trip, offering only that provider's models, voices and options, and plays
 * a sample of the chosen voice. Plain script, no build step: the page's Content-Security-Policy runs only
 * static scripts, so the providers' catalog comes from a JSON data block (#speech-provider-catalog).
 */
'use strict';

(function () {
  function readCatalog() {
    const element = document.getElementById('speech-provider-catalog');
    return element ? JSON.parse(element.textContent) : {};
  }

  function csrfToken() {
    const input = document.querySelector('input[name=csrfmiddlewaretoken]');
    if (input) return input.value;
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : '';
  }

  function fillSelect(select, values, chosen) {
    select.replaceChildren(...values.map((value) => new Option(value, value, false, chosen.includes(value))));
  }

  /** Shows `providerId`'s catalog and options in `scope` (one settings form); `initial`: as the page came. */
  function follow(scope, catalog, providerId, initial) {
    const provider = catalog[providerId];
    if (!provider) return;
    const find = (role) => scope.querySelector(`[data-speech="${role}"]`);
    const model = find('model');
    const voice = find('voice');
    for (const input of [model, find('allowed_models')]) {
      const list = input && document.getElementById(input.getAttribute('list'));
      if (list) list.replaceChildren(...provider.models.map((name) => new Option(name, name)));
    }
    if (!initial) {
      // As a save would: the new provider's defaults for what does not fit it (Azure: a deployment to type).
      if (model && !provider.models.includes(model.value)) model.value = provider.default_model;
      if (voice) {
        fillSelect(voice, provider.voices, [provider.voices.includes(voice.value) ? voice.value : provider.default_voice]);
      }
      const allowedVoices = find('allowed_voices');
      if (allowedVoices) fillSelect(allowedVoices, provider.voices, []);
    }
    const fieldsets = new Set();
    for (const field of scope.querySelectorAll('[data-speech-option-of]')) {
      const row = field.closest('.form-row');
      if (!row) continue;
      row.hidden = field.dataset.speechOptionOf !== providerId;
      if (row.closest('fieldset')) fieldsets.add(row.closest('fieldset'));
    }
    for (const fieldset of fieldsets) {
      fieldset.hidden = !fieldset.querySelector('.form-row:not([hidden])');
    }
  }

  /** Fetches a sample of the chosen voice from the chosen provider and plays it beside the button. */
  async function play(button, scope) {
    const voice = scope.querySelector('[data-speech="voice"]').value;
    const provider = scope.querySelector('[data-speech="provider"]').value;
    const note = button.parentElement.querySelector('.speech-preview-note');
    const audio = button.parentElement.querySelector('.speech-preview-audio');
    button.disabled = true;
    note.textContent = `Fetching a sample of ${voice}…`;
    audio.dataset.state = 'loading';
    try {
      const response = await fetch(button.dataset.previewUrl, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrfToken() },
        body: JSON.stringify({ voice, provider }),
      });
      if (!response.ok) {
        let message = `The sample failed (HTTP ${response.status}).`;
        try {
          message = (await response.json()).error.message;
        } catch (_) { /* not our JSON error: keep the status */ }
        note.textContent = message;
        audio.dataset.state = 'failed';
        return;
      }
      if (audio.src) URL.revokeObjectURL(audio.src);
      audio.src = URL.createObjectURL(await response.blob());
      audio.onplaying = () => { audio.dataset.state = 'playing'; note.textContent = `Playing ${voice}.`; };
      audio.onended = () => { audio.dataset.state = 'ended'; note.textContent = ''; };
      await audio.play();
    } catch (error) {
      note.textContent = `The sample cannot play: ${error.message}`;
      audio.dataset.state = 'failed';
    } finally {
      button.disabled = false;
    }
  }

  function bind() {
    const catalog = readCatalog();
    for (const select of document.querySelectorAll('select[data-speech="provider"]')) {
      if (select.closest('.empty-form')) continue; // the inline's template for new rows
      const scope = select.closest('.inline-related') || select.closest('form');
      follow(scope, catalog, select.value, true);
      select.addEventListener('change', () => follow(scope, catalog, select.value, false));
      for (const button of scope.querySelectorAll('.speech-preview')) {
        button.addEventListener('click', () => play(button, scope));
      }
    }
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bind);
  else bind();
})();
