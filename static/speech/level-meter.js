/** Measures the loudness of a MediaStream, for the microphone and assistant meters. */

let sharedContext = null;

/** The page's AudioContext, created on first use (inside a click, so it may start). */
export function audioContext() {
  if (!sharedContext) sharedContext = new AudioContext();
  return sharedContext;
}

/**
 * Calls onLevel(rms) about twenty times a second until the returned stop() is called.
 * @param {MediaStream} stream
 * @param {function(number): void} onLevel root-mean-square amplitude, 0..1
 * @returns {function(): void} stop
 */
export function watchLevel(stream, onLevel) {
  const context = audioContext();
  const source = context.createMediaStreamSource(stream);
  const analyser = context.createAnalyser();
  analyser.fftSize = 1024;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const sample of samples) sum += sample * sample;
    onLevel(Math.sqrt(sum / samples.length));
  }, 50);
  return () => {
    clearInterval(timer);
    source.disconnect();
    onLevel(0);
  };
}
