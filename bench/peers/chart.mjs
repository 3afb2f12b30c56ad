// A small grouped bar chart in SVG, no dependencies: groups along x (e.g. key count × value
// size), one bar per series (system) in each group, a logarithmic y axis (the systems differ
// by orders of magnitude), a value label on each bar, a legend. Missing values leave a gap.

export const PALETTE = ['#1f77b4', '#9ecae1', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1234567 → '1.23M', 5300 → '5.3k'. */
export function compact(v) {
  if (!Number.isFinite(v)) return '';
  const units = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [d, u] of units) {
    if (v >= d) {
      const x = v / d;
      return `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}${u}`;
    }
  }
  return v >= 10 ? v.toFixed(0) : v.toPrecision(2);
}

/**
 * @param {object} o
 * @param {string} o.title
 * @param {string} [o.subtitle]
 * @param {string[]} o.groups        labels along x
 * @param {{ name: string, values: (number|undefined)[] }[]} o.series   one value per group
 * @param {string} o.yLabel
 * @returns {string} the SVG document
 */
export function barChart({ title, subtitle = '', groups, series, yLabel }) {
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all)) + 0.15));
  const barW = 16;
  const gap = 4;
  const groupPad = 26;
  const groupW = series.length * (barW + gap) - gap + groupPad;
  const left = 70;
  const top = 58;
  const plotH = 330;
  const legendH = 22 * Math.ceil(series.length / 3) + 10;
  const width = Math.max(640, left + groups.length * groupW + 20);
  const height = top + plotH + 64 + legendH;
  const y = (v) => top + plotH - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  out.push(`<text x="${left}" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`);
  if (subtitle) out.push(`<text x="${left}" y="42" font-size="11" fill="#555">${esc(subtitle)}</text>`);
  // Grid: every decade, labelled; 2 and 5 lightly.
  for (let d = lo; d <= hi * 1.0001; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi * 1.0001) break;
      const yy = y(v).toFixed(1);
      out.push(`<line x1="${left}" x2="${width - 10}" y1="${yy}" y2="${yy}" stroke="${m === 1 ? '#ccc' : '#eee'}"/>`);
      if (m === 1) out.push(`<text x="${left - 6}" y="${Number(yy) + 4}" font-size="11" text-anchor="end" fill="#333">${compact(v).replace(/\.0+(?=\D|$)/, '')}</text>`);
    }
  }
  out.push(`<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">${esc(yLabel)} (log scale)</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" stroke="#888"/>`);
  out.push(`<line x1="${left}" x2="${width - 10}" y1="${top + plotH}" y2="${top + plotH}" stroke="#888"/>`);
  groups.forEach((g, gi) => {
    const gx = left + groupPad / 2 + gi * groupW;
    series.forEach((s, si) => {
      const v = s.values[gi];
      const x = gx + si * (barW + gap);
      if (!Number.isFinite(v) || v <= 0) return;
      const yy = y(v);
      const color = s.color ?? PALETTE[si % PALETTE.length];
      out.push(`<rect x="${x}" y="${yy.toFixed(1)}" width="${barW}" height="${(top + plotH - yy).toFixed(1)}" fill="${color}"><title>${esc(s.name)} — ${esc(g)}: ${compact(v)}</title></rect>`);
      const ty = Math.max(top + 30, yy - 4);
      out.push(`<text transform="translate(${x + barW / 2 + 3.5} ${ty.toFixed(1)}) rotate(-90)" font-size="9" fill="#222">${compact(v)}</text>`);
    });
    const label = String(g).split('\n');
    label.forEach((part, li) => {
      out.push(`<text x="${gx + (groupW - groupPad) / 2}" y="${top + plotH + 16 + li * 13}" font-size="11" text-anchor="middle" fill="#222">${esc(part)}</text>`);
    });
  });
  const ly = top + plotH + 50;
  series.forEach((s, si) => {
    const col = si % 3;
    const row = Math.floor(si / 3);
    const x = left + col * 210;
    const yy = ly + row * 22;
    out.push(`<rect x="${x}" y="${yy}" width="12" height="12" fill="${s.color ?? PALETTE[si % PALETTE.length]}"/>`);
    out.push(`<text x="${x + 18}" y="${yy + 10}" font-size="12">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
