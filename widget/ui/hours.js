// Posted hours from the signed profile: shown to the participant, and checked
// against the current time in the program's own time zone.
//
// profile.hours = {timezone: IANA name, weekly: [{day: 0..6 (Monday = 0), open, close}]}
// A window whose close is not after its open runs past midnight into the next day.

const DAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const WEEKDAY_INDEX = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };
const HHMM = /^([01]\d|2[0-4]):([0-5]\d)$/;

function minutes(text) {
  const m = HHMM.exec(String(text));
  if (!m) throw new TypeError("bad time of day");
  const value = Number(m[1]) * 60 + Number(m[2]);
  if (value > 24 * 60) throw new TypeError("bad time of day");
  return value;
}

/**
 * Check and normalise the hours object. Throws TypeError when malformed.
 * @returns {{timezone: string, weekly: Array<{day: number, open: number, close: number, openText: string, closeText: string}>}}
 */
export function parseHours(hours) {
  if (!hours || typeof hours !== "object" || !Array.isArray(hours.weekly)) {
    throw new TypeError("bad hours");
  }
  const timezone = String(hours.timezone);
  // Throws RangeError for an unknown zone.
  new Intl.DateTimeFormat("en-GB", { timeZone: timezone });
  const weekly = hours.weekly.map((w) => {
    if (!Number.isInteger(w.day) || w.day < 0 || w.day > 6) throw new TypeError("bad day");
    return {
      day: w.day, open: minutes(w.open), close: minutes(w.close),
      openText: String(w.open), closeText: String(w.close),
    };
  });
  return { timezone, weekly };
}

/** Day (Monday = 0) and minute of the day at `nowMs` in `timezone`. */
export function localTime(nowMs, timezone) {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: timezone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date(nowMs));
  const get = (type) => parts.find((p) => p.type === type)?.value ?? "";
  return {
    day: WEEKDAY_INDEX[get("weekday")],
    minute: Number(get("hour")) * 60 + Number(get("minute")),
  };
}

/** Whether the posted hours include `nowMs`. */
export function isOpenAt(hours, nowMs) {
  const { day, minute } = localTime(nowMs, hours.timezone);
  const yesterday = (day + 6) % 7;
  return hours.weekly.some((w) => {
    if (w.close > w.open) return w.day === day && minute >= w.open && minute < w.close;
    // Past midnight: open from `open` today until `close` tomorrow.
    return (w.day === day && minute >= w.open) || (w.day === yesterday && minute < w.close);
  });
}

/** Lines such as "Monday: 09:00 to 17:00", one per window, in week order. */
export function describeHours(hours) {
  return [...hours.weekly]
    .sort((a, b) => a.day - b.day || a.open - b.open)
    .map((w) => `${DAY_NAMES[w.day]}: ${w.openText} to ${w.closeText}`);
}
