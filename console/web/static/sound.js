// Audible cues made in the browser with WebAudio: short tones, no sound files.
// A browser lets sound start only after the person has used the page, so the audio
// context is made (or resumed) on their first key press or click.

let context = null;
let enabled = true;

const PATTERNS = {
  message: [740],
  conversation: [660, 880],
  duress: [880, 587, 880, 587],
};

export function unlock() {
  if (!context) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return;
    context = new Ctor();
  }
  if (context.state === "suspended") context.resume().catch(() => {});
}

export function setEnabled(on) {
  enabled = Boolean(on);
}

export function isEnabled() {
  return enabled;
}

export function beep(kind = "message") {
  if (!enabled) return false;
  unlock();
  if (!context) return false;
  let at = context.currentTime + 0.01;
  for (const frequency of PATTERNS[kind] || PATTERNS.message) {
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.type = "sine";
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.25, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
    tone.connect(gain).connect(context.destination);
    tone.start(at);
    tone.stop(at + 0.25);
    at += 0.3;
  }
  return true;
}
