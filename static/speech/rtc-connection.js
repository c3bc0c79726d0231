/**
 * One WebRTC call to a realtime provider, described by the session payload alone
 * (SDP URL, data channel name, codecs, and whether a bearer secret is used), so nothing
 * here names a provider.
 */

import { csrfToken } from './session-client.js';

export class NegotiationError extends Error {
  constructor(message, { status = 0 } = {}) {
    super(message);
    this.name = 'NegotiationError';
    this.status = status;
  }
}

export class NegotiationTimeout extends NegotiationError {
  constructor(ms) {
    super(`No connection within ${ms} ms.`);
    this.name = 'NegotiationTimeout';
  }
}

const ICE_GATHERING_WAIT_MS = 1000;

function waitFor(target, eventName, predicate) {
  return new Promise((resolve) => {
    if (predicate()) return resolve();
    const check = () => {
      if (predicate()) {
        target.removeEventListener(eventName, check);
        resolve();
      }
    };
    target.addEventListener(eventName, check);
  });
}

/** Puts the payload's codecs (e.g. ["opus"]) first in the offer, where the browser supports that. */
function preferCodecs(transceiver, codecs) {
  if (!codecs?.length || !transceiver.setCodecPreferences || !RTCRtpReceiver.getCapabilities) return;
  const available = RTCRtpReceiver.getCapabilities('audio')?.codecs || [];
  const wanted = codecs.map((name) => `audio/${name}`.toLowerCase());
  const first = available.filter((codec) => wanted.includes(codec.mimeType.toLowerCase()));
  if (first.length) transceiver.setCodecPreferences([...first, ...available.filter((c) => !first.includes(c))]);
}

function logTransitions(pc, log) {
  for (const [eventName, property] of [
    ['connectionstatechange', 'connectionState'],
    ['iceconnectionstatechange', 'iceConnectionState'],
    ['icegatheringstatechange', 'iceGatheringState'],
    ['signalingstatechange', 'signalingState'],
  ]) {
    pc.addEventListener(eventName, () => log.info(`[webrtc] ${property} → ${pc[property]}`));
  }
}

/**
 * Starts a peer connection with an audio transceiver, ready before the session arrives.
 * @param {{onEvent: function(object): void, onConnectionState: function(string): void,
 *          onRemoteStream: function(MediaStream): void, log?: Console}} handlers
 */
export function createCall({ onEvent, onConnectionState, onRemoteStream, log = console }) {
  const pc = new RTCPeerConnection();
  const transceiver = pc.addTransceiver('audio', { direction: 'sendrecv' });
  let channel = null;
  logTransitions(pc, log);
  pc.addEventListener('connectionstatechange', () => onConnectionState(pc.connectionState));
  pc.addEventListener('track', (event) => onRemoteStream(event.streams[0] || new MediaStream([event.track])));

  return {
    /** Sends the microphone's audio on the call. */
    async attachMicrophone(track) {
      await transceiver.sender.replaceTrack(track);
    },

    /**
     * Posts the SDP offer to the payload's WebRTC URL and applies the answer. Resolves once the
     * peer is connected and the data channel is open. With a client secret the offer goes to the
     * provider as a bearer request (the secret is read here and kept nowhere); without one it goes
     * to the gateway's relay with the page's own credentials (the unified interface).
     * @param {{client_secret: ?{value: string}, webrtc: {url: string, data_channel: string, codecs?: string[]}}} session
     * @param {{timeoutMs: number}} options
     */
    async negotiate(session, { timeoutMs }) {
      const controller = new AbortController();
      let timer;
      const deadline = new Promise((_, reject) => {
        timer = setTimeout(() => {
          controller.abort();
          reject(new NegotiationTimeout(timeoutMs));
        }, timeoutMs);
      });
      preferCodecs(transceiver, session.webrtc.codecs);
      channel = pc.createDataChannel(session.webrtc.data_channel);
      channel.addEventListener('message', (message) => {
        let event;
        try {
          event = JSON.parse(message.data);
        } catch {
          log.warn('[webrtc] data channel message is not JSON');
          return;
        }
        onEvent(event);
      });
      channel.addEventListener('open', () => log.info('[webrtc] data channel open'));
      channel.addEventListener('close', () => log.info('[webrtc] data channel closed'));
      const opened = waitFor(channel, 'open', () => channel.readyState === 'open');
      const connected = waitFor(pc, 'connectionstatechange', () => pc.connectionState === 'connected');

      const exchange = (async () => {
        await pc.setLocalDescription(await pc.createOffer());
        await Promise.race([
          waitFor(pc, 'icegatheringstatechange', () => pc.iceGatheringState === 'complete'),
          new Promise((resolve) => setTimeout(resolve, ICE_GATHERING_WAIT_MS)),
        ]);
        const headers = { 'Content-Type': 'application/sdp' };
        const request = { method: 'POST', body: pc.localDescription.sdp, headers, signal: controller.signal };
        if (session.client_secret) {
          headers.Authorization = `Bearer ${session.client_secret.value}`;
        } else {
          headers['X-CSRFToken'] = csrfToken();
          request.credentials = 'same-origin';
        }
        let response;
        try {
          response = await fetch(session.webrtc.url, request);
        } catch (error) {
          if (controller.signal.aborted) return;
          throw new NegotiationError(`The provider cannot be reached (${error.message}).`);
        }
        // An error body fed to setRemoteDescription fails as "Failed to parse SessionDescription".
        if (!response.ok) {
          const detail = await response.text().catch(() => '');
          let message = `HTTP ${response.status}`;
          try {
            message = JSON.parse(detail).error.message || message;
          } catch {
            // not an OpenAI-style error body
          }
          throw new NegotiationError(`The provider refused the call: ${message}`, { status: response.status });
        }
        await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
        await Promise.all([connected, opened]);
      })();
      try {
        await Promise.race([exchange, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },

    /** Sends a client event on the data channel; false when it is not open. */
    send(event) {
      if (!channel || channel.readyState !== 'open') return false;
      channel.send(JSON.stringify(event));
      return true;
    },

    /** Ends the call. The microphone belongs to the caller, who stops it. */
    close() {
      if (channel) channel.close();
      pc.close();
    },
  };
}
