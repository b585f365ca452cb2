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

const FORMATS = new Map(); // one formatter per zone: making one costs far more than using it

/** Day (Monday = 0), minute of the day and calendar date at `nowMs` in `timezone`. */
export function localTime(nowMs, timezone) {
  let format = FORMATS.get(timezone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-GB", {
      timeZone: timezone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit",
    });
    FORMATS.set(timezone, format);
  }
  const parts = format.formatToParts(new Date(nowMs));
  const get = (type) => parts.find((p) => p.type === type)?.value ?? "";
  return {
    day: WEEKDAY_INDEX[get("weekday")],
    minute: Number(get("hour")) * 60 + Number(get("minute")),
    year: Number(get("year")), month: Number(get("month")), date: Number(get("day")),
  };
}

const MINUTE_MS = 60 * 1000;
const HOUR_MS = 60 * MINUTE_MS;

/** The zone's offset from UTC at the instant `ms`, in ms (whole minutes). */
function offsetAt(ms, timezone) {
  const t = Math.floor(ms / MINUTE_MS) * MINUTE_MS;
  const w = localTime(t, timezone);
  return Date.UTC(w.year, w.month - 1, w.date, 0, w.minute) - t;
}

/**
 * The instant of wall time `minute` (may pass 1440) on the calendar date
 * (year, month 1..12, date) in `timezone`, read as the SDK reads it (Python's zoneinfo,
 * fold=0): a wall time that does not exist (the hour skipped in spring) takes the offset
 * in force before the change, and one that happens twice (autumn) is its first
 * occurrence. So an opening is at the time on the wall, as on the program node.
 */
export function wallTimeToUtc(year, month, date, minute, timezone) {
  const naive = Date.UTC(year, month - 1, date, 0, minute);
  // One change at most within a day either side (zones change a few times a year).
  const before = offsetAt(naive - 26 * HOUR_MS, timezone);
  const after = offsetAt(naive + 26 * HOUR_MS, timezone);
  if (before === after) return naive - before;
  const early = naive - before;
  const late = naive - after;
  const earlyValid = offsetAt(early, timezone) === before;
  const lateValid = offsetAt(late, timezone) === after;
  // Both valid: the repeated hour, first occurrence. Neither: the skipped hour, read
  // with the offset before the change. One: the only reading there is.
  if (earlyValid || !lateValid) return early;
  return late;
}

/**
 * Whether the posted hours include `nowMs`: each window of the days around now becomes
 * the instants its wall times name in the program's zone (see `wallTimeToUtc`), as the
 * SDK's `WeeklyHours.is_open` does, so the widget and the program node agree, also on
 * the nights the clocks change.
 */
export function isOpenAt(hours, nowMs) {
  const here = localTime(nowMs, hours.timezone);
  for (let back = 0; back <= 2; back += 1) {
    // Calendar arithmetic on a UTC date: no zone in play.
    const d = new Date(Date.UTC(here.year, here.month - 1, here.date - back));
    const day = (d.getUTCDay() + 6) % 7; // Monday = 0
    for (const w of hours.weekly) {
      if (w.day !== day) continue;
      const close = w.close > w.open ? w.close : w.close + 24 * 60;
      const y = d.getUTCFullYear();
      const m = d.getUTCMonth() + 1;
      const date = d.getUTCDate();
      const opens = wallTimeToUtc(y, m, date, w.open, hours.timezone);
      const closes = wallTimeToUtc(y, m, date, close, hours.timezone);
      if (opens <= nowMs && nowMs < closes) return true;
    }
  }
  return false;
}

/** Lines such as "Monday: 09:00 to 17:00", one per window, in week order. */
export function describeHours(hours) {
  return [...hours.weekly]
    .sort((a, b) => a.day - b.day || a.open - b.open)
    .map((w) => `${DAY_NAMES[w.day]}: ${w.openText} to ${w.closeText}`);
}
