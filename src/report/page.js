// The report's thread browser and findings lists. Data comes from the JSON blocks the
// page carries; text is always set with textContent (never parsed as HTML) except the
// recording plots, which threadkit drew and escaped itself.
"use strict";
(function () {
  const data = (id) => JSON.parse(document.getElementById(id).textContent);
  const rows = data("rows");
  const findings = data("findings-data");
  const PAGE = 100;
  const el = (tag, attrs, text) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };
  const findingsOf = (r) => r.errors + r.warnings;
  const state = { q: "", dataset: "", label: "", correct: "", withFindings: false, key: "n", dir: 1, shown: PAGE };

  // Filters: the options are the values present.
  const fill = (select, values) => {
    for (const v of [...new Set(values)].sort()) select.appendChild(el("option", { value: v }, v === "" ? "(none)" : v));
  };
  fill(document.getElementById("f-dataset"), rows.map((r) => r.dataset));
  fill(document.getElementById("f-label"), rows.map((r) => r.label));

  const matches = (r) => {
    if (state.dataset && r.dataset !== state.dataset) return false;
    if (state.label && r.label !== state.label) return false;
    if (state.correct && String(r.correct) !== state.correct) return false;
    if (state.withFindings && findingsOf(r) === 0) return false;
    if (state.q) {
      const hay = [r.id, r.session, r.label, r.answer, r.dataset, r.place, r.status].join("\u0000").toLowerCase();
      if (!hay.includes(state.q)) return false;
    }
    return true;
  };
  const value = (r, key) => (key === "findings" ? findingsOf(r) : r[key]);
  const compare = (a, b) => {
    const x = value(a, state.key), y = value(b, state.key);
    if (x === y) return a.n - b.n;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * state.dir;
  };

  const tbody = document.querySelector("#thread-table tbody");
  const more = document.getElementById("more");
  const count = document.getElementById("shown-count");
  let current = rows;
  const render = () => {
    current = rows.filter(matches).sort(compare);
    tbody.textContent = "";
    const frag = document.createDocumentFragment();
    for (const r of current.slice(0, state.shown)) {
      const tr = el("tr", { "data-n": r.n, "data-id": r.id, tabindex: "0" });
      tr.appendChild(el("td", { title: r.place }, r.id || "—"));
      for (const k of ["dataset", "session", "label", "answer"]) tr.appendChild(el("td", { title: r[k] }, r[k]));
      const c = r.correct === true ? ["yes", "✓"] : r.correct === false ? ["no", "✗"] : ["", "—"];
      tr.appendChild(el("td", { class: c[0] }, c[1]));
      tr.appendChild(el("td", {}, r.confidence));
      for (const k of ["turns", "calls", "tokens"]) tr.appendChild(el("td", { class: "num" }, r[k] === null ? "—" : r[k]));
      const f = el("td", { class: "num" + (r.errors ? " no" : "") }, findingsOf(r) + (r.replay_problems ? " +" + r.replay_problems + " replay" : ""));
      tr.appendChild(f);
      frag.appendChild(tr);
    }
    tbody.appendChild(frag);
    const left = current.length - Math.min(state.shown, current.length);
    more.hidden = left === 0;
    more.textContent = "Show " + Math.min(PAGE * 5, left) + " more (" + left + " not shown)";
    count.textContent = current.length + " of " + rows.length + " threads";
  };

  const on = (id, ev, f) => document.getElementById(id).addEventListener(ev, f);
  let timer = 0;
  on("q", "input", (e) => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.q = e.target.value.trim().toLowerCase(); state.shown = PAGE; render(); }, 120);
  });
  on("f-dataset", "change", (e) => { state.dataset = e.target.value; state.shown = PAGE; render(); });
  on("f-label", "change", (e) => { state.label = e.target.value; state.shown = PAGE; render(); });
  on("f-correct", "change", (e) => { state.correct = e.target.value; state.shown = PAGE; render(); });
  on("f-findings", "change", (e) => { state.withFindings = e.target.checked; state.shown = PAGE; render(); });
  on("more", "click", () => { state.shown += PAGE * 5; render(); });
  for (const th of document.querySelectorAll("#thread-table th[data-key]")) {
    th.tabIndex = 0;
    th.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); th.click(); } });
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      state.dir = state.key === key ? -state.dir : 1;
      state.key = key;
      for (const o of document.querySelectorAll("#thread-table th")) o.classList.remove("asc", "desc");
      th.classList.add(state.dir > 0 ? "asc" : "desc");
      render();
    });
  }
  tbody.addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-n]");
    if (tr) location.hash = "t=" + tr.dataset.n;
  });
  // Rows and column heads work from the keyboard too: Tab to them, Enter or Space.
  tbody.addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-n]");
    if (tr && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); location.hash = "t=" + tr.dataset.n; }
  });

  // The transcript viewer: `#t=N` opens row N's thread, `&m=K` scrolls to message K.
  const viewer = document.getElementById("viewer");
  const box = document.getElementById("transcript");
  const findingLine = (f) => el("p", { class: "finding " + f.severity }, f.severity + " " + f.code + ": " + f.message + (f.pointer ? " (at " + f.pointer + ")" : ""));
  const open = (n, m) => {
    const block = document.getElementById("t" + n);
    const r = rows[n];
    if (!block || !r) return;
    const t = JSON.parse(block.textContent);
    box.textContent = "";
    document.getElementById("viewer-title").textContent = "Thread " + (t.id || "—") + " · " + r.place;
    const version = t.migrated_from ? t.migrated_from + " (shown migrated to openai_v1)" : t.version || "—";
    box.appendChild(el("p", { class: "meta" }, [t.dataset || "—", "session " + (t.session || "—"), version, "status " + (t.status || "—")].join(" · ")));
    if (t.replay_error) box.appendChild(el("p", { class: "finding warning" }, "not replayed: " + t.replay_error));
    for (const f of t.findings) box.appendChild(findingLine(f));
    for (const f of findings) if (f.thread === n && f.across) box.appendChild(findingLine(f));
    for (const s of t.steps) {
      const sec = el("section", { class: "step " + s.kind, "data-message": s.message });
      const h = el("h3", {}, s.kind + (s.name ? " · " + s.name : ""));
      if (s.replay) {
        h.appendChild(document.createTextNode(" "));
        h.appendChild(el("span", { class: "replay " + s.replay.status.replace(" ", "-"), title: s.replay.detail || "" }, "replay: " + s.replay.status));
      }
      sec.appendChild(h);
      if (s.kind === "question" && s.dataset_channels) sec.appendChild(el("p", { class: "meta" }, "with the dataset's manifest: " + s.dataset_channels + " channels"));
      if (s.shown !== undefined) sec.appendChild(el("pre", {}, s.shown));
      else sec.appendChild(el("p", { class: "text" }, s.text));
      if (s.plot) {
        const fig = el("figure", { class: "recording" });
        fig.appendChild(el("figcaption", {}, "what the call looked at" + (s.replay && s.replay.artifact ? ": " + s.replay.artifact : "")));
        const holder = el("div", {});
        holder.innerHTML = s.plot;
        fig.appendChild(holder);
        sec.appendChild(fig);
      }
      if (s.replay && s.replay.detail) sec.appendChild(el("p", { class: "finding" }, s.replay.detail));
      for (const f of s.findings) sec.appendChild(findingLine(f));
      box.appendChild(sec);
    }
    const verdict = t.is_correct === true ? "correct" : t.is_correct === false ? "wrong" : "not judged";
    box.appendChild(el("p", { class: "verdict" }, "Final answer " + (t.final_answer || "—") + ", ground truth " + (t.ground_truth || "—") + ": " + verdict));
    viewer.hidden = false;
    const target = m === null ? null : box.querySelector('[data-message="' + m + '"]');
    if (target) {
      target.classList.add("target");
      target.scrollIntoView({ block: "center" });
    } else viewer.scrollTop = 0;
  };
  const route = () => {
    const p = new URLSearchParams(location.hash.slice(1));
    if (p.has("t")) open(Number(p.get("t")), p.has("m") ? Number(p.get("m")) : null);
    else viewer.hidden = true;
  };
  on("close", "click", () => { history.pushState(null, "", location.pathname + location.search); viewer.hidden = true; });
  document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !viewer.hidden) document.getElementById("close").click(); });
  window.addEventListener("hashchange", route);

  // Findings: each rule's list is built when it is first opened.
  for (const d of document.querySelectorAll("details.rule")) {
    d.addEventListener("toggle", () => {
      const ol = d.querySelector(".items");
      if (!d.open || ol.childElementCount) return;
      for (const f of findings.filter((f) => f.code === d.dataset.code)) {
        const li = el("li", {});
        if (f.thread !== null) {
          const hash = "t=" + f.thread + (f.message_index !== null ? "&m=" + f.message_index : "");
          li.appendChild(el("a", { href: "#" + hash }, f.place));
        } else li.appendChild(el("code", {}, f.place));
        li.appendChild(document.createTextNode(" " + f.message));
        ol.appendChild(li);
      }
    });
  }

  render();
  route();
})();
