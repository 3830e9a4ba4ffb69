// The reading pane (see app_pages/components/reading_pane.py).
//
// Streamlit's component protocol, written out: the page posts {isStreamlitMessage, type, ...} to
// its parent ("streamlit:componentReady" once, "streamlit:setFrameHeight", and
// "streamlit:setComponentValue" for each event of the analyst's) and receives
// {type: "streamlit:render", args} whenever the Python side runs.
//
// Every string from the data goes in with textContent or createTextNode, never as markup. Each
// text node's start offset in the canonical text is in its parent's data-o attribute, so a DOM
// selection maps back to exact character offsets.
//
// Pseudonymised display: a speaker label ("Sarah Jones:") may be drawn as its pseudonym
// ("Participant 1:", args.speakers maps one to the other). Such a label is one piece whose drawn
// text differs from the canonical characters it stands for: a selection edge inside it counts as
// its start or its end, never as an offset into the drawn words, so offsets stay exact.
"use strict";

(function () {
  const HEX = /^#[0-9a-fA-F]{6}$/;
  const LANE = 10;       // px per stripe lane
  const TAG_W = 136;     // px for the code names beside the stripes
  const TAG_H = 17;      // px per code name (16 + 1 gap)

  const $ = (id) => document.getElementById(id);
  const linesEl = $("lines"), marginEl = $("margin"), scrollEl = $("scroll");
  const findEl = $("find"), countEl = $("count"), infoEl = $("info");
  const hasHighlights = typeof CSS !== "undefined" && CSS.highlights && typeof Highlight !== "undefined";

  let text = "";
  let pieces = [];        // [{start, end, node, shown}] in document order (shown: drawn as a pseudonym)
  let speakers = {};      // speaker label as written -> as drawn (pseudonymised display)
  let codings = [];       // [{id, start, end, label, colour, coder}]
  let codingsKey = "", docKey = null, selectedId = null, focusKey = "";
  let frameHeight = 0, seq = 0, lastKind = null;
  let matches = [], current = -1;

  // -- protocol -----------------------------------------------------------------------------------
  function send(type, data) {
    window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type: type }, data), "*");
  }
  function emit(value) {
    seq += 1;
    lastKind = value.kind;
    send("streamlit:setComponentValue", { value: Object.assign({ seq: seq }, value), dataType: "json" });
  }
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent || !event.data || event.data.type !== "streamlit:render") return;
    render(event.data.args || {});
  });

  // -- offsets <-> DOM ------------------------------------------------------------------------------
  function pieceIndex(offset) {  // the last piece starting at or before offset
    let lo = 0, hi = pieces.length - 1, ans = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (pieces[mid].start <= offset) { ans = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return ans;
  }
  function pieceAt(offset) { return pieces[pieceIndex(offset)]; }
  function nodeOffset(p, offset) {  // an offset of the canonical text as a position in the piece's node
    if (p.shown) return offset <= p.start ? 0 : p.node.length;
    return Math.max(0, Math.min(offset - p.start, p.end - p.start));
  }
  function point(offset) {
    const p = pieceAt(offset);
    return [p.node, nodeOffset(p, offset)];
  }
  function rangeOf(start, end) {
    const r = document.createRange();
    const a = point(start), b = point(end);
    r.setStart(a[0], a[1]);
    r.setEnd(b[0], b[1]);
    return r;
  }
  function textRanges(start, end) {  // one range per text piece: a highlight never paints a line number
    const out = [];
    let i = pieceIndex(start);
    for (; i >= 0 && i < pieces.length && pieces[i].start < end; i++) {
      const p = pieces[i], a = Math.max(start, p.start), b = Math.min(end, p.end);
      if (b > a) {
        const r = document.createRange();
        r.setStart(p.node, nodeOffset(p, a));
        r.setEnd(p.node, nodeOffset(p, b));
        out.push(r);
      }
    }
    return out;
  }
  function offsetOf(container, off) {
    if (container.nodeType === Node.TEXT_NODE && container.parentNode && container.parentNode.dataset &&
        container.parentNode.dataset.o !== undefined) {
      const o = Number(container.parentNode.dataset.o);
      const real = container.parentNode.dataset.len;  // a label drawn as its pseudonym: its start or end
      if (real !== undefined) return o + (off === 0 ? 0 : Number(real));
      return o + Math.min(off, container.length);
    }
    // a point between elements (a line number, a line's edge): the first text at or after it
    const probe = document.createRange();
    probe.setStart(container, off);
    let lo = 0, hi = pieces.length - 1, ans = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (probe.comparePoint(pieces[mid].node, 0) >= 0) { ans = mid; hi = mid - 1; } else { lo = mid + 1; }
    }
    return ans === -1 ? text.length : pieces[ans].start;
  }
  function selectionOffsets() {
    const sel = window.getSelection();
    if (!sel || sel.rangeCount === 0) return null;
    const r = sel.getRangeAt(0);
    if (r.collapsed || !linesEl.contains(r.commonAncestorContainer) && !r.intersectsNode(linesEl)) return null;
    let s = offsetOf(r.startContainer, r.startOffset), e = offsetOf(r.endContainer, r.endOffset);
    s = Math.max(0, Math.min(s, text.length));
    e = Math.max(0, Math.min(e, text.length));
    return s < e ? [s, e] : null;
  }
  function lineOf(offset) {
    let n = 1;
    for (let i = text.indexOf("\n"); i !== -1 && i < offset; i = text.indexOf("\n", i + 1)) n += 1;
    return n;
  }

  // -- the text -------------------------------------------------------------------------------------
  const SPEAKER = /^([A-Z][A-Za-z0-9 .'\u2019()-]{0,38}):(?=\s)/;  // "Interviewer:", "P03:", "Dr Patel:"

  function buildLines() {
    linesEl.textContent = "";
    pieces = [];
    const frag = document.createDocumentFragment();
    let start = 0, n = 1;
    while (start <= text.length) {
      let end = text.indexOf("\n", start);
      if (end === -1) end = text.length;
      const line = text.slice(start, end);
      const row = document.createElement("div");
      row.className = "row";
      const ln = document.createElement("span");
      ln.className = "ln";
      ln.textContent = String(n);
      row.appendChild(ln);
      const tx = document.createElement("span");
      tx.className = "tx";
      const m = SPEAKER.exec(line);
      if (m) {
        const shown = Object.prototype.hasOwnProperty.call(speakers, m[1]) ? String(speakers[m[1]]) : null;
        addPiece(tx, "sp", start, m[0], shown === null ? null : shown + ":");
        addPiece(tx, null, start + m[0].length, line.slice(m[0].length));
      } else {
        addPiece(tx, null, start, line);
      }
      row.appendChild(tx);
      frag.appendChild(row);
      if (end === text.length) break;
      start = end + 1;
      n += 1;
    }
    linesEl.appendChild(frag);
  }
  function addPiece(parent, cls, start, str, drawn) {
    const span = document.createElement("span");
    if (cls) span.className = cls;
    span.dataset.o = String(start);
    const shown = typeof drawn === "string" && drawn !== str;
    if (shown) span.dataset.len = String(str.length);
    const node = document.createTextNode(shown ? drawn : str);
    span.appendChild(node);
    parent.appendChild(span);
    pieces.push({ start: start, end: start + str.length, node: node, shown: shown });
  }

  // -- codings: tints in the text, stripes and names in the margin ------------------------------------
  let tintStyle = null;
  function setHighlight(name, ranges, priority) {
    if (!hasHighlights) return;
    if (!ranges.length) { CSS.highlights.delete(name); return; }
    const h = new Highlight(...ranges);
    h.priority = priority || 0;
    CSS.highlights.set(name, h);
  }
  function rgba(hex, a) {
    const c = HEX.test(hex) ? hex : "#888888";
    return "rgba(" + parseInt(c.slice(1, 3), 16) + "," + parseInt(c.slice(3, 5), 16) + "," + parseInt(c.slice(5, 7), 16) + "," + a + ")";
  }
  function drawTints() {
    if (!hasHighlights) return;
    for (const name of Array.from(CSS.highlights.keys())) if (name.startsWith("code")) CSS.highlights.delete(name);
    const colours = [];
    const byColour = new Map();
    for (const c of codings) {
      const col = HEX.test(c.colour) ? c.colour.toLowerCase() : "#888888";
      if (!byColour.has(col)) { byColour.set(col, []); colours.push(col); }
      byColour.get(col).push(...textRanges(c.start, c.end));
    }
    let css = "";
    colours.forEach((col, i) => {
      setHighlight("code" + i, byColour.get(col), 1);
      css += "::highlight(code" + i + "){background-color:" + rgba(col, 0.2) + ";}\n";
    });
    if (!tintStyle) { tintStyle = document.createElement("style"); document.head.appendChild(tintStyle); }
    tintStyle.textContent = css;  // built from checked #RRGGBB colours only
  }

  function lanes() {  // greedy interval colouring: overlapping codings get separate lanes
    const order = codings.map((c, i) => i).sort((a, b) => codings[a].start - codings[b].start || codings[b].end - codings[a].end);
    const ends = [], lane = new Array(codings.length);
    for (const i of order) {
      let k = ends.findIndex((e) => e <= codings[i].start);
      if (k === -1) { k = ends.length; ends.push(0); }
      ends[k] = codings[i].end;
      lane[i] = k;
    }
    return [lane, Math.max(1, ends.length)];
  }
  function drawMargin() {
    marginEl.textContent = "";
    const [lane, n] = lanes();
    const width = codings.length ? n * LANE + 8 + TAG_W : 12;  // no codings yet: the text gets the room
    marginEl.style.width = width + "px";
    const base = linesEl.getBoundingClientRect().top;
    const boxes = codings.map((c) => {
      const rects = rangeOf(c.start, c.end).getClientRects();
      if (!rects.length) return null;
      return { top: rects[0].top - base, bottom: rects[rects.length - 1].bottom - base };
    });
    const tags = [];
    codings.forEach((c, i) => {
      const b = boxes[i];
      if (!b) return;
      const col = HEX.test(c.colour) ? c.colour : "#888888";
      const bar = document.createElement("div");
      bar.className = "stripe" + (c.id === selectedId ? " on" : "");
      bar.style.left = (4 + lane[i] * LANE) + "px";
      bar.style.top = (b.top + 2) + "px";
      bar.style.height = Math.max(8, b.bottom - b.top - 4) + "px";
      bar.style.background = col;
      bar.title = c.label + (c.coder ? " (" + c.coder + ")" : "");
      bar.dataset.coding = String(c.id);
      marginEl.appendChild(bar);
      tags.push({ c: c, top: b.top + 2, col: col });
    });
    tags.sort((a, b) => a.top - b.top || a.c.start - b.c.start);
    let floor = -Infinity;
    for (const t of tags) {
      const y = Math.max(t.top, floor);
      floor = y + TAG_H;
      const tag = document.createElement("div");
      tag.className = "tag" + (t.c.id === selectedId ? " on" : "");
      tag.style.left = (n * LANE + 8) + "px";
      tag.style.width = (TAG_W - 6) + "px";
      tag.style.top = y + "px";
      tag.style.borderLeftColor = t.col;
      tag.textContent = t.c.label;
      tag.title = t.c.label + (t.c.coder ? " (" + t.c.coder + ")" : "") + ": lines " + lineOf(t.c.start) + "\u2013" + lineOf(t.c.end);
      tag.dataset.coding = String(t.c.id);
      marginEl.appendChild(tag);
    }
    marginEl.style.minHeight = Math.max(0, floor) + "px";
    const sel = codings.find((c) => c.id === selectedId);
    setHighlight("selcoding", sel ? textRanges(sel.start, sel.end) : [], 3);
  }
  marginEl.addEventListener("click", (ev) => {
    const el = ev.target.closest("[data-coding]");
    if (!el) return;
    selectedId = Number(el.dataset.coding);
    drawMargin();
    emit({ kind: "coding", id: selectedId });
  });

  // -- scrolling --------------------------------------------------------------------------------------
  function scrollToOffset(offset, fraction) {
    const r = rangeOf(offset, Math.min(text.length, offset + 1)).getBoundingClientRect();
    const top = r.top - scrollEl.getBoundingClientRect().top + scrollEl.scrollTop;
    scrollEl.scrollTop = Math.max(0, top - scrollEl.clientHeight * (fraction === undefined ? 0.3 : fraction));
  }
  function storeKey() { return "thematic-pane-scroll:" + docKey; }
  let saveTimer = null;
  scrollEl.addEventListener("scroll", () => {
    clearTimeout(saveTimer);
    saveTimer = setTimeout(() => { try { sessionStorage.setItem(storeKey(), String(scrollEl.scrollTop)); } catch (e) { /* private mode */ } }, 200);
  });

  // -- find in the document -----------------------------------------------------------------------------
  function runFind(keepCurrent) {
    const q = findEl.value;
    matches = [];
    if (q.trim()) {
      const hay = text.toLocaleLowerCase(), needle = q.toLocaleLowerCase();
      if (hay.length === text.length) {  // lower-casing kept offsets (true for nearly every text)
        for (let i = hay.indexOf(needle); i !== -1 && matches.length < 5000; i = hay.indexOf(needle, i + needle.length)) {
          matches.push([i, i + needle.length]);
        }
      } else {
        for (let i = text.indexOf(q); i !== -1 && matches.length < 5000; i = text.indexOf(q, i + q.length)) matches.push([i, i + q.length]);
      }
    }
    if (!keepCurrent || current >= matches.length) current = matches.length ? 0 : -1;
    showFind(true);
  }
  function showFind(scroll) {
    setHighlight("find", matches.flatMap((m) => textRanges(m[0], m[1])), 4);
    setHighlight("findcur", current >= 0 ? textRanges(matches[current][0], matches[current][1]) : [], 5);
    $("prev").disabled = $("next").disabled = matches.length < 2;
    countEl.textContent = !findEl.value.trim() ? "" : matches.length ? (current + 1) + " of " + matches.length : "no matches";
    if (scroll && current >= 0) scrollToOffset(matches[current][0]);
  }
  function step(d) {
    if (!matches.length) return;
    current = (current + d + matches.length) % matches.length;
    showFind(true);
  }
  let findTimer = null;
  findEl.addEventListener("input", () => { clearTimeout(findTimer); findTimer = setTimeout(() => runFind(false), 120); });
  findEl.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") { ev.preventDefault(); clearTimeout(findTimer); if (!matches.length) runFind(false); else step(ev.shiftKey ? -1 : 1); }
    if (ev.key === "Escape") { findEl.value = ""; runFind(false); }
  });
  $("next").addEventListener("click", () => step(1));
  $("prev").addEventListener("click", () => step(-1));

  // -- the analyst's selection ----------------------------------------------------------------------------
  function selectionChanged() {
    const span = selectionOffsets();
    if (span) {
      const a = lineOf(span[0]), b = lineOf(span[1]);
      infoEl.textContent = "Selected " + (span[1] - span[0]) + " characters, " + (a === b ? "line " + a : "lines " + a + "\u2013" + b);
      emit({ kind: "selection", start: span[0], end: span[1] });
    } else if (lastKind === "selection") {
      infoEl.textContent = "";
      emit({ kind: "clear" });
    }
  }
  linesEl.addEventListener("mouseup", () => setTimeout(selectionChanged, 0));
  linesEl.addEventListener("keyup", (ev) => { if (ev.shiftKey || ev.key === "Shift") selectionChanged(); });
  linesEl.addEventListener("touchend", () => setTimeout(selectionChanged, 0));
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === "f") { ev.preventDefault(); findEl.focus(); findEl.select(); }
  });

  // -- a run of the Python side -------------------------------------------------------------------------------
  function layout() {
    scrollEl.style.height = Math.max(120, frameHeight - $("bar").offsetHeight) + "px";
    drawMargin();
  }
  function render(args) {
    const height = Math.max(200, Number(args.height) || 640);
    const newText = typeof args.text === "string" ? args.text : "";
    const newDoc = String(args.doc_key || "") + ":" + newText.length;
    const newSpeakers = args.speakers && typeof args.speakers === "object" ? args.speakers : {};
    const rebuilt = newText !== text || newDoc !== docKey || JSON.stringify(newSpeakers) !== JSON.stringify(speakers);
    if (rebuilt) {
      text = newText;
      docKey = newDoc;
      speakers = newSpeakers;
      buildLines();
      codingsKey = "";
      current = -1;
    }
    const list = Array.isArray(args.codings) ? args.codings : [];
    const key = JSON.stringify(list);
    const newSelected = args.selected === null || args.selected === undefined ? null : Number(args.selected);
    const changed = key !== codingsKey || newSelected !== selectedId || height !== frameHeight;
    codings = list.filter((c) => Number.isInteger(c.start) && Number.isInteger(c.end) && c.start >= 0 && c.end <= text.length && c.start < c.end)
      .map((c) => ({ id: Number(c.id), start: c.start, end: c.end, label: String(c.label || ""), colour: String(c.colour || ""), coder: String(c.coder || "") }));
    if (key !== codingsKey) drawTints();
    codingsKey = key;
    selectedId = newSelected;
    if (height !== frameHeight) {
      frameHeight = height;
      send("streamlit:setFrameHeight", { height: height });
    }
    if (changed || rebuilt) layout();
    if (rebuilt && findEl.value) runFind(false);
    const focus = Array.isArray(args.focus) && args.focus.length === 2 ? args.focus : null;
    const fk = focus ? docKey + ":" + focus.join("-") : "";
    if (focus && fk !== focusKey) {
      const s = Math.max(0, Math.min(Number(focus[0]), text.length)), e = Math.max(s, Math.min(Number(focus[1]), text.length));
      setHighlight("focus", e > s ? textRanges(s, e) : [], 2);
      requestAnimationFrame(() => scrollToOffset(s));
    } else if (rebuilt && !focus) {
      let top = 0;
      try { top = Number(sessionStorage.getItem(storeKey()) || 0); } catch (e) { top = 0; }
      requestAnimationFrame(() => { scrollEl.scrollTop = top; });
    }
    if (!focus) setHighlight("focus", [], 2);
    focusKey = fk;
  }
  new ResizeObserver(() => { if (pieces.length) drawMargin(); }).observe(linesEl);

  send("streamlit:componentReady", { apiVersion: 1 });
})();
