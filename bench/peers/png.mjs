// The grouped bar chart of chart.mjs, drawn as a PNG instead of an SVG, with no dependency but
// node:zlib. Why a PNG at all: the README wants an image that looks the same wherever it is
// shown (an SVG's text is laid out with whatever fonts the viewer has), and this repository has
// no image library to draw one with. So this file has the three small pieces
// such a library would bring: a bitmap font, a raster canvas with rectangles and text, and a PNG
// encoder (zlib stream from deflateSync, chunk CRCs from the CRC-32 below).
//
// Same input as barChart in chart.mjs: { title, subtitle, groups, series: [{ name, values,
// color? }], yLabel }; logarithmic y axis, one colour per series (chart.mjs's palette, so the
// PNG and the SVGs agree), a value on each bar, group labels, a legend. Missing values leave a
// gap. No anti-aliasing: everything is axis-aligned rectangles and whole font pixels.

import { deflateSync } from 'node:zlib';
import { compact } from './chart.mjs';

export const PALETTE = ['#1f77b4', '#9ecae1', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

// ── Font ────────────────────────────────────────────────────────────────────────────────────

// A 5×8 bitmap font for ASCII 32..126, in the layout of the classic 5×7 LCD character ROMs
// (one extra row below the baseline for the descenders of g j p q y and the comma). Each glyph
// is 5 column bytes, left to right, as 10 hex digits; bit 0 of a byte is the top row, bit 7
// the bottom. Column-major because that is how these fonts are usually written down, which
// makes a wrong glyph easy to compare against any published table.
const FONT_HEX = [
  /* ' ' ! " # $ % & '  */ '0000000000', '00005f0000', '0007000700', '147f147f14', '242a7f2a12', '2313086462', '3649552050', '0000070000',
  /* ( ) * + , - . /    */ '001c224100', '0041221c00', '2a1c7f1c2a', '08083e0808', '0080603000', '0808080808', '0060600000', '2010080402',
  /* 0 1 2 3 4 5 6 7    */ '3e5149453e', '00427f4000', '6251494946', '2241494936', '1814127f10', '2745454539', '3c4a494930', '0171090503',
  /* 8 9 : ; < = > ?    */ '3649494936', '064949291e', '0036360000', '0056360000', '0814224100', '1414141414', '0041221408', '0201510906',
  /* @ A B C D E F G    */ '324979413e', '7e1111117e', '7f49494936', '3e41414122', '7f4141221c', '7f49494941', '7f09090901', '3e4149497a',
  /* H I J K L M N O    */ '7f0808087f', '00417f4100', '2040413f01', '7f08142241', '7f40404040', '7f020c027f', '7f0408107f', '3e4141413e',
  /* P Q R S T U V W    */ '7f09090906', '3e4151215e', '7f09192946', '4649494931', '01017f0101', '3f4040403f', '1f2040201f', '3f4038403f',
  /* X Y Z [ \ ] ^ _    */ '6314081463', '0708700807', '6151494543', '007f414100', '0204081020', '0041417f00', '0402010204', '4040404040',
  /* ` a b c d e f g    */ '0001020400', '2054545478', '7f48444438', '3844444420', '384444487f', '3854545418', '087e090102', '18a4a4a47c',
  /* h i j k l m n o    */ '7f08040478', '00447d4000', '4080847d00', '7f10284400', '00417f4000', '7c04180478', '7c08040478', '3844444438',
  /* p q r s t u v w    */ 'fc24242418', '18242424fc', '7c08040408', '4854545420', '043f444020', '3c4040207c', '1c2040201c', '3c4030403c',
  /* x y z { | } ~      */ '4428102844', '1ca0a0a07c', '4464544c44', '0008364100', '00007f0000', '0041360800', '0201020402',
].join('');

const GLYPH_W = 5;
const GLYPH_H = 8;
/** Advance per character, in font pixels: the glyph and one column of spacing. */
const ADVANCE = GLYPH_W + 1;

// Chart labels come from elsewhere (system names, the CPU model, "×" in "2 × AMD EPYC"): map
// the few non-ASCII characters they are likely to hold to ASCII rather than print "?".
const ASCII = { '×': 'x', '–': '-', '—': '-', '−': '-', '…': '...', 'µ': 'u', '≤': '<=', '≥': '>=', '‘': "'", '’': "'", '“': '"', '”': '"', '\u00a0': ' ', '·': '.' };
function toAscii(s) {
  return [...String(s)].map((c) => (c.charCodeAt(0) >= 32 && c.charCodeAt(0) <= 126 ? c : ASCII[c] ?? '?')).join('');
}

/** The 5 column bytes of a printable ASCII character. */
function glyph(c) {
  const at = (c.charCodeAt(0) - 32) * GLYPH_W * 2;
  const cols = [];
  for (let i = 0; i < GLYPH_W; i++) cols.push(parseInt(FONT_HEX.slice(at + i * 2, at + i * 2 + 2), 16));
  return cols;
}

/** Width in pixels of `text` drawn at `scale` (without the trailing spacing column). */
export function textWidth(text, scale) {
  const n = toAscii(text).length;
  return n === 0 ? 0 : (n * ADVANCE - 1) * scale;
}

// ── Canvas ──────────────────────────────────────────────────────────────────────────────────

function rgb(hex) {
  const h = hex.replace('#', '');
  const full = h.length === 3 ? [...h].map((c) => c + c).join('') : h;
  return [parseInt(full.slice(0, 2), 16), parseInt(full.slice(2, 4), 16), parseInt(full.slice(4, 6), 16)];
}

/** An RGB raster, 3 bytes per pixel, row by row; drawing outside it is clipped, not an error. */
class Canvas {
  constructor(width, height, background = '#fff') {
    this.width = width;
    this.height = height;
    this.px = Buffer.alloc(width * height * 3);
    this.rect(0, 0, width, height, background);
  }

  rect(x, y, w, h, color) {
    const [r, g, b] = rgb(color);
    // Bars land on fractional coordinates (log scale); rounding both edges, rather than the
    // origin and the size, keeps adjacent shapes from overlapping or leaving a seam.
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) {
        const i = (yy * this.width + xx) * 3;
        this.px[i] = r;
        this.px[i + 1] = g;
        this.px[i + 2] = b;
      }
    }
  }

  /**
   * Text with its top-left corner at (x, y), each font pixel a `scale`×`scale` square. With
   * `up`, the text is turned a quarter turn counter-clockwise (reading bottom to top, as the
   * SVG's rotate(-90)) and (x, y) is its bottom-left corner: the first character sits lowest.
   * `bold` draws every font pixel one screen pixel wider: cheap, and enough for a title.
   */
  text(x, y, text, { scale = 2, color = '#222', up = false, bold = false } = {}) {
    const s = toAscii(text);
    const widen = bold ? 1 : 0;
    for (let k = 0; k < s.length; k++) {
      const cols = glyph(s[k]);
      for (let c = 0; c < GLYPH_W; c++) {
        for (let r = 0; r < GLYPH_H; r++) {
          if (!((cols[c] >> r) & 1)) continue;
          const along = (k * ADVANCE + c) * scale;
          if (up) this.rect(x + r * scale, y - along - scale - widen, scale, scale + widen, color);
          else this.rect(x + along, y + r * scale, scale + widen, scale, color);
        }
      }
    }
  }

  /** Encodes the raster as a PNG: 8-bit RGB, not interlaced. */
  png() {
    const { width, height, px } = this;
    // Each scanline gets a filter byte. "Up" (2: each byte minus the one above) turns the long
    // vertical runs of a bar chart (bars, grid gaps) into rows of zeros, which deflate well.
    const stride = width * 3;
    const raw = Buffer.alloc((stride + 1) * height);
    for (let y = 0; y < height; y++) {
      const o = y * (stride + 1);
      raw[o] = 2;
      for (let i = 0; i < stride; i++) {
        const above = y > 0 ? px[(y - 1) * stride + i] : 0;
        raw[o + 1 + i] = (px[y * stride + i] - above) & 0xff;
      }
    }
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(width, 0);
    ihdr.writeUInt32BE(height, 4);
    ihdr[8] = 8; // bits per sample
    ihdr[9] = 2; // colour type: RGB
    ihdr[10] = 0; // compression: deflate (the only one defined)
    ihdr[11] = 0; // filter method: adaptive, per-scanline filter bytes
    ihdr[12] = 0; // no interlace
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

// ── PNG chunks ──────────────────────────────────────────────────────────────────────────────

// CRC-32 as PNG (and zlib, gzip, zip) define it: reflected polynomial 0xEDB88320, initial value
// and final XOR 0xFFFFFFFF. node:zlib computes one internally but only exposes crc32 from
// Node 22 on, and this repository supports Node 20.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(...buffers) {
  let c = 0xffffffff;
  for (const buf of buffers) for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** length, type, data, CRC of type + data. */
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4), data), 0);
  return Buffer.concat([head, data, crc]);
}

// ── Chart ───────────────────────────────────────────────────────────────────────────────────

/** Word-wraps `text` into lines no wider than `width` pixels at `scale`. */
function wrap(text, width, scale) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, scale) > width) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/** Dark text on light colours, white on dark ones (perceived brightness, ITU-R BT.601). */
function inkOn(color) {
  const [r, g, b] = rgb(color);
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#222' : '#fff';
}

/**
 * @param {object} o
 * @param {string} o.title
 * @param {string} [o.subtitle]     word-wrapped to the chart's width
 * @param {string[]} o.groups        labels along x; '\n' splits a label into lines
 * @param {{ name: string, values: (number|undefined)[], color?: string }[]} o.series   one value per group
 * @param {string} o.yLabel
 * @param {number} [o.scale]         font scale: 2 = each font pixel is 2×2 screen pixels
 * @returns {Buffer} the PNG file
 */
export function barChartPng({ title, subtitle = '', groups, series, yLabel, scale = 2 }) {
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v) && v > 0);
  if (all.length === 0) throw new Error('barChartPng: no positive value to draw');
  // Whole decades at both ends, as in chart.mjs; the 0.15 keeps the tallest bar off the frame.
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...all))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...all)) + 0.15));

  const S = scale;
  const lineH = (GLYPH_H + 3) * S; // a line of text and some leading
  const textH = GLYPH_H * S;
  const pad = 12 * S;
  const colorOf = (s, i) => s.color ?? PALETTE[i % PALETTE.length];

  // Horizontal layout. A bar must be wider than the height of a line of text, because its
  // value is written along it, turned upright.
  const barW = textH + 4;
  // Wide enough apart that the upright values of neighbouring bars read as separate columns.
  const gap = 3 * S;
  const groupPad = 14 * S;
  const groupLabels = groups.map((g) => String(g).split('\n'));
  const minGroupW = Math.max(series.length * (barW + gap) - gap, ...groupLabels.flat().map((l) => textWidth(l, S))) + groupPad;
  const ticks = [];
  for (let d = lo; d <= hi * 1.0001; d *= 10) ticks.push({ v: d, label: compact(d).replace(/\.0+(?=\D|$)/, '') });
  const tickW = Math.max(...ticks.map((t) => textWidth(t.label, S)));
  const left = pad + textH + 8 * S + tickW + 4 * S;
  const swatch = textH;
  const legendColW = Math.max(...series.map((s) => swatch + 4 * S + textWidth(s.name, S))) + 16 * S;
  let width = Math.max(left + groups.length * minGroupW + pad, pad * 2 + textWidth(title, S + 1), 640);
  const legendCols = Math.max(1, Math.min(series.length, Math.floor((width - left - pad) / legendColW) || 1, 3));
  width = Math.max(width, left + legendCols * legendColW + pad);
  // When the title or the legend sets the width (a partial run with few bars), the groups
  // spread out to fill it rather than huddle at the left under a long empty frame.
  const plotW = width - left - pad;
  const groupW = plotW / groups.length;

  // Vertical layout, top to bottom: title, subtitle, plot, group labels, legend.
  const titleScale = S + 1;
  const subLines = subtitle ? wrap(subtitle, width - 2 * pad, S) : [];
  const titleY = pad;
  const subY = titleY + (GLYPH_H + 4) * titleScale;
  const top = subY + subLines.length * lineH + 10 * S;
  const plotH = 220 * S;
  const bottom = top + plotH;
  const labelsY = bottom + 6 * S;
  const legendY = labelsY + Math.max(...groupLabels.map((l) => l.length)) * lineH + 10 * S;
  const legendRows = Math.ceil(series.length / legendCols);
  const height = legendY + legendRows * (lineH + 4 * S) + pad;

  const c = new Canvas(width, height);
  const y = (v) => bottom - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotH;

  c.text(pad, titleY, title, { scale: titleScale, color: '#111', bold: true });
  subLines.forEach((l, i) => c.text(pad, subY + i * lineH, l, { scale: S, color: '#555' }));

  // Grid: a labelled line at every decade, fainter ones at 2× and 5× so that a bar's height
  // can be read to within a factor of 2 or so.
  for (const { v, label } of ticks) {
    for (const m of [2, 5]) if (v * m < hi) c.rect(left, Math.round(y(v * m)), plotW, 1, '#eee');
    c.rect(left, Math.round(y(v)), plotW, 1, '#ccc');
    c.text(left - 4 * S - textWidth(label, S), Math.round(y(v)) - textH / 2, label, { scale: S, color: '#333' });
  }
  const yText = `${yLabel} (log scale)`;
  c.text(pad, top + plotH / 2 + textWidth(yText, S) / 2, yText, { scale: S, color: '#333', up: true });

  groups.forEach((g, gi) => {
    const gx = left + gi * groupW + groupPad / 2;
    const barsW = series.length * (barW + gap) - gap;
    const bx = gx + (groupW - groupPad - barsW) / 2;
    series.forEach((s, si) => {
      const v = s.values[gi];
      if (!Number.isFinite(v) || v <= 0) return;
      const x = Math.round(bx + si * (barW + gap));
      const yy = Math.round(y(v));
      const color = colorOf(s, si);
      c.rect(x, yy, barW, bottom - yy, color);
      // The value, upright: above the bar when it fits under the frame, else inside its top.
      const label = compact(v);
      const len = textWidth(label, S);
      const tx = x + (barW - textH) / 2;
      if (yy - 3 * S - len >= top) c.text(tx, yy - 3 * S, label, { scale: S, color: '#222', up: true });
      else c.text(tx, yy + 3 * S + len, label, { scale: S, color: inkOn(color), up: true });
    });
    const cx = left + gi * groupW + groupW / 2;
    groupLabels[gi].forEach((l, li) => c.text(Math.round(cx - textWidth(l, S) / 2), labelsY + li * lineH, l, { scale: S, color: '#222' }));
  });

  // Axes last, so that bars do not cover them.
  c.rect(left, top, 1, plotH + 1, '#888');
  c.rect(left, bottom, plotW, 1, '#888');

  series.forEach((s, si) => {
    const lx = left + (si % legendCols) * legendColW;
    const ly = legendY + Math.floor(si / legendCols) * (lineH + 4 * S);
    c.rect(lx, ly, swatch, swatch, colorOf(s, si));
    c.text(lx + swatch + 4 * S, ly, s.name, { scale: S, color: '#222' });
  });

  return c.png();
}
