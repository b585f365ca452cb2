// Plain-words times for the console: "4 min", "1 h 5 min", "14:02", in the program's
// time zone (the one its posted hours are in), whatever the computer's own.

function makeFormat(zone) {
  const options = { hour: "2-digit", minute: "2-digit" };
  try {
    return new Intl.DateTimeFormat(undefined, zone ? { ...options, timeZone: zone } : options);
  } catch {
    return new Intl.DateTimeFormat(undefined, options);  // a zone this browser does not know
  }
}

// The zone is read from the page each time (console.js updates it when an admin changes
// the posted hours' time zone while the page is open); the formatter is made once per zone.
let made = null;
let madeFor;

function timeFormat() {
  const zone = document.body.dataset.timezone;
  if (made === null || zone !== madeFor) {
    made = makeFormat(zone);
    madeFor = zone;
  }
  return made;
}

export function duration(fromMs, nowMs = Date.now()) {
  const minutes = Math.max(0, Math.floor((nowMs - fromMs) / 60000));
  if (minutes < 1) return "less than 1 min";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

export function clockTime(ms) {
  return timeFormat().format(new Date(ms));
}
