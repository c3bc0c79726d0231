/**
 * Binds the chat page's DOM to a SpeechStore: renders its state, forwards clicks and the
 * hold-to-talk button. It knows the store's public methods and events only, never the transport.
 */

import { audioContext, watchLevel } from './level-meter.js';

const TOAST_MS = 8000;

export class ChatView {
  /**
   * @param {HTMLElement} root the #chat element
   * @param {import('./speech-store.js').SpeechStore} store
   * @param {{toasts: HTMLElement}} elements the page's toast area, outside the chat card
   */
  constructor(root, store, { toasts }) {
    this.store = store;
    this.el = {
      connect: root.querySelector('#connect'),
      hangup: root.querySelector('#hangup'),
      mute: root.querySelector('#mute'),
      talk: root.querySelector('#talk'),
      status: root.querySelector('#status'),
      notice: root.querySelector('#call-notice'),
      micLevel: root.querySelector('#mic-level'),
      remoteLevel: root.querySelector('#remote-level'),
      activity: root.querySelector('#activity'),
      unlock: root.querySelector('#unlock-audio'),
      transcript: root.querySelector('#transcript'),
      form: root.querySelector('#message-form'),
      message: root.querySelector('#message'),
      audio: root.querySelector('#remote-audio'),
      firstSteps: root.querySelector('#first-steps'),
      toasts,
    };
    this.stopMicMeter = null;
    this.stopRemoteMeter = null;
    this.#bind();
    this.render(store.state);
  }

  #bind() {
    const { el, store } = this;
    el.connect.addEventListener('click', () => {
      audioContext().resume(); // inside the click, so the browser lets audio start
      store.connect();
    });
    el.hangup.addEventListener('click', () => store.hangUp());
    el.mute.addEventListener('click', () => store.setMuted(!store.state.muted));
    el.unlock.addEventListener('click', () => this.#play());
    this.#bindTalkButton();
    el.form.addEventListener('submit', (event) => {
      event.preventDefault();
      if (store.sendText(el.message.value)) el.message.value = '';
    });
    store.addEventListener('change', (event) => this.render(event.detail));
    store.addEventListener('toast', (event) => this.toast(event.detail));
    store.addEventListener('microphone', (event) => {
      if (this.stopMicMeter) this.stopMicMeter();
      this.stopMicMeter = event.detail ? watchLevel(event.detail, (level) => { el.micLevel.value = level * 4; }) : null;
    });
    store.addEventListener('remote-stream', (event) => this.#attachRemote(event.detail));
  }

  #bindTalkButton() {
    const { el: { talk }, store } = this;
    const start = (event) => { event.preventDefault(); store.startTalking(); };
    const stop = () => store.stopTalking();
    talk.addEventListener('pointerdown', start);
    talk.addEventListener('pointerup', stop);
    talk.addEventListener('pointerleave', stop);
    talk.addEventListener('keydown', (event) => { if (event.key === ' ' && !event.repeat) start(event); });
    talk.addEventListener('keyup', (event) => { if (event.key === ' ') stop(); });
  }

  #attachRemote(stream) {
    const { el } = this;
    el.audio.srcObject = stream;
    this.#play();
    if (this.stopRemoteMeter) this.stopRemoteMeter();
    this.stopRemoteMeter = watchLevel(stream, (level) => {
      el.remoteLevel.value = level * 4;
      el.remoteLevel.dataset.peak = Math.max(Number(el.remoteLevel.dataset.peak || 0), level).toFixed(4);
    });
  }

  async #play() {
    try {
      await audioContext().resume();
      await this.el.audio.play();
      this.el.unlock.hidden = true;
    } catch (error) {
      if (error.name !== 'NotAllowedError') throw error;
      console.warn('[speech] audio playback blocked until the user clicks');
      this.el.unlock.hidden = false;
    }
  }

  /**
   * Shows the store's state.
   * @param {object} state the store's state (see SpeechStore)
   */
  render(state) {
    const { el } = this;
    const live = state.status === 'connected';
    const busy = state.status === 'connecting';
    el.status.dataset.state = state.status;
    // What to do before the first connect; once tried, the page itself shows the way.
    if (state.status !== 'idle' && el.firstSteps) el.firstSteps.hidden = true;
    el.status.textContent = live && state.connectMs !== null ? `Connected in ${state.connectMs} ms` : state.detail || 'Idle';
    if (state.connectMs !== null) el.status.dataset.connectMs = state.connectMs;
    el.connect.hidden = live || busy;
    el.connect.disabled = false; // rendered disabled until this view is bound
    el.hangup.hidden = !(live || busy);
    el.mute.disabled = !live;
    el.mute.setAttribute('aria-pressed', String(state.muted));
    el.mute.textContent = state.muted ? 'Unmute' : 'Mute';
    el.talk.hidden = state.turnMode !== 'push_to_talk';
    el.talk.disabled = !live;
    el.talk.setAttribute('aria-pressed', String(state.talking));
    el.talk.textContent = state.talking ? 'Release to send' : 'Hold to talk';
    el.message.disabled = !live;
    el.form.querySelector('button').disabled = !live;
    const notice = live && state.remaining ? `Time left in this call: ${state.remaining}` : state.notice;
    el.notice.hidden = !notice;
    el.notice.dataset.kind = live && state.remaining ? 'remaining' : 'ended';
    if (el.notice.textContent !== notice) el.notice.textContent = notice;
    el.activity.textContent = state.speaking ? 'Assistant speaking' : state.listening ? 'Listening…' : '';
    if (!live && !busy) {
      if (this.stopRemoteMeter) this.stopRemoteMeter();
      this.stopRemoteMeter = null;
      el.unlock.hidden = true;
    }
    this.#renderTranscript(state.transcript);
  }

  #renderTranscript(entries) {
    const list = this.el.transcript;
    entries.forEach((entry, index) => {
      let item = list.children[index];
      if (!item || item.dataset.id !== entry.id) {
        item = document.createElement('li');
        item.dataset.id = entry.id;
        list.insertBefore(item, list.children[index] || null);
      }
      item.dataset.role = entry.role;
      item.dataset.pending = String(entry.pending);
      if (entry.tool) item.dataset.state = entry.tool.state;
      if (item.textContent !== entry.text) item.textContent = entry.text;
    });
    while (list.children.length > entries.length) list.lastElementChild.remove();
    list.scrollTop = list.scrollHeight;
  }

  /**
   * Shows a message for a few seconds.
   * @param {{title: string, message: string}} toast
   */
  toast({ title, message }) {
    const toast = document.createElement('div');
    toast.className = 'toast';
    toast.setAttribute('role', 'alert');
    const heading = document.createElement('strong');
    heading.textContent = title;
    toast.append(heading, document.createTextNode(message));
    this.el.toasts.append(toast);
    setTimeout(() => toast.remove(), TOAST_MS);
  }
}
