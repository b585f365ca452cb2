// Posted hours from the signed profile: shown to the participant, and checked
// against the current time in the program's own time zone.
//
// profile.hours = {timezone: IANA name, weekly: [{day: 0..6 (Monday = 0), open, close}],
//                  closures?: [{date: "YYYY-MM-DD", label}]} (whole local days closed)
// A window whose close is not after its open runs past midnight into the next day.

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
  // Whole local days closed (holidays, one-off closures): "YYYY-MM-DD" in `timezone`.
  const closures = (Array.isArray(hours.closures) ? hours.closures : []).map((c) => ({
    date: String(c.date), label: String(c.label ?? ""),
  }));
  return { timezone, weekly, closures };
}

/** The closure of the local date at `nowMs`, or null (the whole day is closed). */
export function closedOn(hours, nowMs) {
  const here = localTime(nowMs, hours.timezone);
  const date = `${String(here.year).padStart(4, "0")}-${String(here.month).padStart(2, "0")}-${String(here.date).padStart(2, "0")}`;
  return (hours.closures ?? []).find((c) => c.date === date) ?? null;
}

/**
 * The closures from today on (at most `limit`), as people say them: "Friday 25 December
 * 2026: Christmas Day". `text` is the language's texts (text.js).
 */
export function describeClosures(hours, text, nowMs = Date.now(), limit = 5) {
  const here = localTime(nowMs, hours.timezone);
  const from = Date.UTC(here.year, here.month - 1, here.date);
  const format = new Intl.DateTimeFormat(text.lang, {
    weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC",
  });
  return (hours.closures ?? [])
    .map((c) => {
      const [y, m, d] = c.date.split("-").map(Number);
      return { ...c, at: Date.UTC(y, m - 1, d) };
    })
    .filter((c) => c.at >= from)
    .sort((a, b) => a.at - b.at)
    .slice(0, limit)
    .map((c) => text.closedOnDay(format.format(new Date(c.at)), c.label));
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
  if (closedOn(hours, nowMs)) return false; // a holiday or one-off closure: the whole day
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

const WEEK_START = Date.UTC(2024, 0, 1); // a Monday

function dayName(lang, day) {
  return new Intl.DateTimeFormat(lang, { weekday: "long", timeZone: "UTC" })
    .format(new Date(WEEK_START + day * 24 * 3600 * 1000));
}

/** "9 am", "5:30 pm", "midday", "midnight" (English); "09:00" etc. where 24-hour is usual. */
export function timeOfDay(lang, minute, text) {
  if (minute === 0 || minute === 24 * 60) return text.midnight;
  if (minute === 12 * 60) return text.midday;
  const at = new Date(WEEK_START + minute * 60 * 1000);
  if (lang === "en") {
    const options = { hour: "numeric", hour12: true, timeZone: "UTC" };
    if (minute % 60 !== 0) options.minute = "2-digit";
    return new Intl.DateTimeFormat("en-GB", options).format(at).replace(/\s+/g, " ").toLowerCase();
  }
  return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone: "UTC" })
    .format(at);
}

/** The zone's everyday name in `lang`: "Eastern Time", "United Kingdom Time". */
export function zoneName(lang, timezone) {
  for (const style of ["longGeneric", "long"]) {
    try {
      const parts = new Intl.DateTimeFormat(lang, { timeZone: timezone, timeZoneName: style })
        .formatToParts(new Date());
      const name = parts.find((p) => p.type === "timeZoneName")?.value;
      if (name && !/^(GMT|UTC)[+-]/.test(name)) return name;
    } catch {
      // try the next style
    }
  }
  return timezone;
}

/**
 * The posted hours as people say them: "Open 24 hours, every day", or one line per run of
 * days with the same windows: "Monday to Friday: 9 am to 5 pm", "Saturday and Sunday:
 * closed". `text` is the language's texts (text.js).
 */
export function describeHours(hours, text) {
  const lang = text.lang;
  const windowsOf = (day) => hours.weekly
    .filter((w) => w.day === day)
    .sort((a, b) => a.open - b.open)
    .map((w) => (w.open === 0 && w.close === 24 * 60
      ? text.open24
      : text.timeRange(timeOfDay(lang, w.open, text), timeOfDay(lang, w.close, text))));
  const perDay = [0, 1, 2, 3, 4, 5, 6].map((d) => windowsOf(d).join(", ") || text.closedDay);
  if (perDay.every((d) => d === perDay[0])) {
    return [perDay[0] === text.open24 ? text.open24EveryDay : text.dayLine(text.everyDay, perDay[0])];
  }
  const lines = [];
  let first = 0;
  for (let d = 1; d <= 7; d += 1) {
    if (d < 7 && perDay[d] === perDay[first]) continue;
    const last = d - 1;
    let days = dayName(lang, first);
    if (last === first + 1) days = text.dayPair(days, dayName(lang, last));
    else if (last > first + 1) days = text.dayRange(days, dayName(lang, last));
    lines.push(text.dayLine(`${days.charAt(0).toUpperCase()}${days.slice(1)}`, perDay[first]));
    first = d;
  }
  return lines;
}
