// The encounters along a time axis: one dot per person met, stacked in columns; a crowded column shows a few
// dots and "+N" for the rest (all of them stay in the list beside it), so 400 people over three days stay readable.
import { drawingWidth, h, s } from "./dom.js";
import { formatDayKey, formatLocal, formatWhen, localDayKey, localParts, meetingSentence } from "./format.js";

const PAD = 16;
const ROW = 12;
const COLUMN = 12; // px: a dot's width (r = 5) and a gap, so neighbouring columns never cover each other
const LEVELS = 6; // dots stacked per column at most; the top one of a fuller column is its "+N"
const HOUR = 3_600_000;
const STEPS = [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 168 * HOUR];

/** The axis's one format for a day: "Sat 5 Dec 2026", as its ends and the day headings say it. */
function dayLabel(wall) {
  const key = `${wall.getUTCFullYear()}-${String(wall.getUTCMonth() + 1).padStart(2, "0")}-`
    + String(wall.getUTCDate()).padStart(2, "0");
  return formatDayKey(key);
}

/** Tick marks on whole hours or days of the chosen clock (its offset at the first encounter), labelled where room
 * allows: "14:00" within a day, the day itself at midnight and on day steps. */
function ticks(first, span, offset, x, W, axisY) {
  const usable = W - 2 * PAD;
  // a day's label is wider than an hour's: at most one per 60 px for hours, one per 110 px for days
  const step = STEPS.find((st) => span / st <= usable / (st < 24 * HOUR ? 60 : 110)) ?? STEPS[STEPS.length - 1];
  const shift = offset * 60_000;
  const marks = [];
  let lastLabelEnd = -Infinity;
  for (let t = Math.ceil((first + shift) / step) * step - shift; t <= first + span; t += step) {
    const wall = new Date(t + shift);
    const hh = String(wall.getUTCHours()).padStart(2, "0");
    const label = step < 24 * HOUR && hh !== "00" ? `${hh}:00` : dayLabel(wall);
    const width = label.length * 6.5; // 11 px text: a label never runs into the one before it
    const at = x(t);
    marks.push(s("line", { class: "tick", x1: at, y1: axisY, x2: at, y2: axisY + 4 }));
    if (at - width / 2 >= lastLabelEnd + 4 && at - width / 2 >= 0 && at + width / 2 <= W) {
      marks.push(s("text", { class: "tick-label", x: at, y: axisY + 30, "text-anchor": "middle",
        "data-testid": "timeline-tick" }, label));
      lastLabelEnd = at + width / 2;
    }
  }
  return s("g", { "aria-hidden": "true" }, marks);
}

export function renderTimeline({ encounters, onSelect, timeZone, together = true }) {
  const W = drawingWidth();
  const timed = encounters.filter((e) => e.location && Number.isFinite(e.time)); // a presence has a day, no time
  if (!timed.length) return { el: h("div", {}), select() {} };
  const first = timed[0].time;
  const last = timed[timed.length - 1].time;
  const span = Math.max(last - first, 60_000);
  const x = (t) => PAD + ((t - first) / span) * (W - 2 * PAD) + (last === first ? (W - 2 * PAD) / 2 : 0);
  const stacks = new Map();
  const dots = timed.map((e) => {
    const column = Math.round(x(e.time) / COLUMN);
    const cx = column * COLUMN; // on its column, so a stack is one straight pile
    const level = stacks.get(column) ?? 0;
    stacks.set(column, level + 1);
    const id = String(e.person.id);
    const label = meetingSentence(e, timeZone, together);
    return s("circle", {
      class: "tl-dot", cx: cx.toFixed(1), cy: 0, r: 5, tabindex: "0", role: "button",
      "data-testid": "timeline-event", "data-person-id": id, "aria-label": label,
      "data-level": level, "data-column": column, onclick: () => onSelect(id),
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(id); }
      },
    }, s("title", {}, label));
  });
  const levels = Math.min(Math.max(...stacks.values()), LEVELS);
  const axisY = 14 + levels * ROW;
  const levelY = (level) => axisY - 10 - level * ROW;
  const more = [];
  for (const dot of dots) {
    const level = +dot.dataset.level;
    const count = stacks.get(+dot.dataset.column);
    dot.setAttribute("cy", levelY(Math.min(level, levels - 1)));
    if (count > LEVELS && level >= LEVELS - 1) {
      // past the pile's height: not drawn (the list holds them); the pile's top says how many
      dot.setAttribute("display", "none");
      if (level === LEVELS - 1) {
        more.push(s("text", { class: "tl-more", x: dot.getAttribute("cx"), y: levelY(LEVELS - 1) + 4,
          "text-anchor": "middle", "data-testid": "timeline-more" }, `+${count - (LEVELS - 1)}`));
      }
    }
  }
  const height = axisY + 36;
  // Within one day the ends of the axis are told apart by their times.
  const local = (iso) => formatLocal(iso, timeZone) || formatWhen(iso);
  const oneDay = localDayKey(timed[0].location.creation_time, timeZone)
    === localDayKey(timed[timed.length - 1].location.creation_time, timeZone);
  const tick = (e) => (oneDay ? local(e.location.creation_time)
    : formatDayKey(localDayKey(e.location.creation_time, timeZone)));
  const startLabel = local(timed[0].location.creation_time);
  const endLabel = local(timed[timed.length - 1].location.creation_time);
  const offset = localParts(first, timeZone)?.offset ?? 0;
  const svg = s("svg", {
      class: "timeline", viewBox: `0 0 ${W} ${height}`, role: "group", "data-testid": "timeline",
      "aria-label": `Timeline of ${timed.length} encounters from ${startLabel} to ${endLabel}`,
    },
    s("line", { class: "axis", x1: PAD, y1: axisY, x2: W - PAD, y2: axisY }),
    last !== first ? ticks(first, span, offset, x, W, axisY) : null,
    s("text", { x: PAD, y: axisY + 16, "data-testid": "timeline-start" }, tick(timed[0])),
    last !== first ? s("text", { x: W - PAD, y: axisY + 16, "text-anchor": "end", "data-testid": "timeline-end" },
      tick(timed[timed.length - 1])) : null,
    dots, more);
  const select = (id) => {
    for (const d of dots) d.classList.toggle("selected", d.dataset.personId === id);
  };
  return { el: svg, select };
}
