// The encounters along a time axis: one dot per person met, stacked where they crowd together.
import { drawingWidth, h, s } from "./dom.js";
import { formatDayKey, formatLocal, formatWhen, localDayKey, localParts, meetingSentence } from "./format.js";

const PAD = 16;
const ROW = 12;
const HOUR = 3_600_000;
const STEPS = [HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, 24 * HOUR, 48 * HOUR, 168 * HOUR];

/** Tick marks on whole hours or days of the chosen clock (its offset at the first encounter), labelled where room
 * allows. */
function ticks(first, span, offset, x, W, axisY) {
  const room = (W - 2 * PAD) / 60; // at most one label per 60 px
  const step = STEPS.find((st) => span / st <= room) ?? STEPS[STEPS.length - 1];
  const shift = offset * 60_000;
  const marks = [];
  for (let t = Math.ceil((first + shift) / step) * step - shift; t <= first + span; t += step) {
    const wall = new Date(t + shift);
    const hh = String(wall.getUTCHours()).padStart(2, "0");
    const label = step < 24 * HOUR && hh !== "00" ? `${hh}:00` : `${wall.getUTCDate()}/${wall.getUTCMonth() + 1}`;
    marks.push(s("line", { class: "tick", x1: x(t), y1: axisY, x2: x(t), y2: axisY + 4 }),
      s("text", { class: "tick-label", x: x(t), y: axisY + 30, "text-anchor": "middle", "data-testid": "timeline-tick" },
        label));
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
    const cx = x(e.time);
    const column = Math.round(cx / 10);
    const level = stacks.get(column) ?? 0;
    stacks.set(column, level + 1);
    const id = String(e.person.id);
    const label = meetingSentence(e, timeZone, together);
    return s("circle", {
      class: "tl-dot", cx: cx.toFixed(1), cy: 0, r: 5, tabindex: "0", role: "button",
      "data-testid": "timeline-event", "data-person-id": id, "aria-label": label,
      "data-level": level, onclick: () => onSelect(id),
      onkeydown: (ev) => {
        if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); onSelect(id); }
      },
    }, s("title", {}, label));
  });
  const levels = Math.min(Math.max(...stacks.values()), 8);
  const axisY = 14 + levels * ROW;
  for (const dot of dots) dot.setAttribute("cy", axisY - 10 - Math.min(+dot.dataset.level, levels - 1) * ROW);
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
    dots);
  const select = (id) => {
    for (const d of dots) d.classList.toggle("selected", d.dataset.personId === id);
  };
  return { el: svg, select };
}
