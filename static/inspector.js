// The flaw-map inspector. One row per probe image, columns input | ground truth | T1 | T2 |
// where T1 / T2 are really wrong (wrong pixels; restoration |T - y|) | flaw T1 | flaw T2 | C target T1 | C target T2 | dc mask T1 | dc mask T2 | fc mask; one step
// slider drives every panel. View state (step, colormap, opacity, probe) lives in the URL.
(function () {
  const root = document.getElementById('inspector');
  if (!root) return;
  const run = root.dataset.run;
  const $ = id => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const COLS = [
    ['input', 'input'], ['ground_truth', 'ground truth'], ['t1', 'T1'], ['t2', 'T2'],
    ['wrong_t1', 'wrong T1'], ['wrong_t2', 'wrong T2'], ['flaw_t1', 'flaw T1'], ['flaw_t2', 'flaw T2'], ['target_t1', 'C target T1'], ['target_t2', 'C target T2'],
    ['dc_mask_t1', 'dc mask T1'], ['dc_mask_t2', 'dc mask T2'], ['fc_mask', 'fc mask'],
  ];
  const MASKS = new Set(['dc_mask_t1', 'dc_mask_t2', 'fc_mask']);
  let steps = [], probes = [];
  const CMAPS = ['viridis', 'inferno', 'grey'];
  const state = { step: +params.get('step') || null, cmap: CMAPS.includes(params.get('cmap')) ? params.get('cmap') : 'viridis', opacity: params.has('opacity') ? +params.get('opacity') : 0.6 };
  $('cmap').value = state.cmap; $('opacity').value = state.opacity;
  $('inspector-head').innerHTML = '<th>probe</th>' + COLS.map(c => `<th>${c[1]}</th>`).join('');

  // ξ, the flaw threshold: the dc and fc masks are recomputed here from the handled flaw
  // maps (served as data) exactly as the engine makes them (spec section 3): s = h where
  // h <= ξ, else 1; T1 learns from T2 where s2 < s1, T2 from T1 where s1 < s2; fc where both
  // h1 and h2 exceed ξ. At the trained ξ the stored masks are shown. A run trained with a
  // dc margin (gct.dc_margin, 0 in the spec) copies only where s_own > s_other + margin.
  const trainedXi = +root.dataset.xi, margin = +(root.dataset.dcMargin || 0);
  // gct.dc_confidence_gate: the stored masks (at the trained xi) are narrowed by the models'
  // confidence, which this page does not have; its recomputed dc masks are F's rule alone.
  const gated = root.dataset.confidenceGate === 'true';
  state.xi = params.has('xi') && isFinite(+params.get('xi')) ? +params.get('xi') : trainedXi;
  $('xi').value = state.xi;
  const flawCache = new Map();
  function flawValues(probe, layer) {
    const key = `${state.step}/${probe}/${layer}`;
    if (!flawCache.has(key)) flawCache.set(key, fetch(`/api/runs/${run}/snapshots/${state.step}/${probe}/${layer}.json`).then(r => r.ok ? r.json() : null));
    return flawCache.get(key);
  }
  function overlayUrl(mask, w, h) {
    const c = document.createElement('canvas'); c.width = w; c.height = h;
    const ctx = c.getContext('2d'), img = ctx.createImageData(w, h);
    mask.forEach((m, i) => img.data.set([255, 64, 32, m ? 255 : 0], 4 * i));
    ctx.putImageData(img, 0, 0);
    return c.toDataURL();
  }
  async function applyXi() {
    const xi = state.xi, trained = Math.abs(xi - trainedXi) < 1e-9;
    $('xi-value').textContent = xi.toFixed(2) + (trained ? ' (trained)' : '');
    for (const p of probes) {
      const [a, b] = await Promise.all([flawValues(p.idx, 'flaw_t1'), flawValues(p.idx, 'flaw_t2')]);
      if (!a || !b || state.xi !== xi) continue;
      const sat = v => v <= xi ? v : 1;
      const n = a.values.length;
      const masks = { dc_mask_t1: new Uint8Array(n), dc_mask_t2: new Uint8Array(n), fc_mask: new Uint8Array(n) };
      for (let i = 0; i < n; i++) {
        const h1 = a.values[i], h2 = b.values[i], s1 = sat(h1), s2 = sat(h2);
        masks.dc_mask_t1[i] = s2 + margin < s1; masks.dc_mask_t2[i] = s1 + margin < s2; masks.fc_mask[i] = h1 > xi && h2 > xi;
      }
      for (const [key, m] of Object.entries(masks)) {
        const cell = $('rows').querySelector(`tr[data-probe="${p.idx}"] td[data-layer="${key}"]`);
        if (!cell) continue;
        const overlay = cell.querySelector('img.overlay');
        overlay.src = trained ? url(p.idx, key, '&overlay=true') : overlayUrl(m, a.width, a.height);
        const share = `${(100 * m.reduce((s, v) => s + v, 0) / n).toFixed(1)} % of pixels`;
        // The gate needs the models' confidence, which the inspector does not recompute.
        cell.querySelector('.share').textContent = !gated || key === 'fc_mask' ? share
          : trained ? 'as trained: F and the confidence gate' : `${share} by F's rule alone (the run's confidence gate not applied)`;
      }
    }
  }
  function saveUrl() {
    const p = new URLSearchParams({ step: state.step, cmap: state.cmap, opacity: state.opacity, xi: state.xi });
    history.replaceState(null, '', `?${p}`);
  }
  function colorbar() {
    $('colorbar').innerHTML = `0 <img alt="colorbar" src="data:image/svg+xml,${encodeURIComponent(bar())}"> 1`;
  }
  function bar() {
    const stops = { viridis: ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'], inferno: ['#000004', '#57106e', '#bc3754', '#f98e09', '#fcffa4'], grey: ['#000', '#fff'] }[state.cmap];
    const g = stops.map((c, i) => `<stop offset="${i / (stops.length - 1)}" stop-color="${c}"/>`).join('');
    return `<svg xmlns="http://www.w3.org/2000/svg" width="200" height="14"><defs><linearGradient id="g">${g}</linearGradient></defs><rect width="200" height="14" fill="url(#g)"/></svg>`;
  }
  function url(probe, layer, extra) {
    return `/api/runs/${run}/snapshots/${state.step}/${probe}/${layer}.png?cmap=${state.cmap}${extra || ''}`;
  }
  // Probe and class names come from dataset file names, i.e. from whoever made the dataset:
  // they go into the page as text nodes, never as markup.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'style') e.style.cssText = v; else if (k === 'dataset') Object.assign(e.dataset, v); else e.setAttribute(k, v);
    }
    e.append(...children);
    return e;
  }
  // Under a prediction: how well the model's own confidence ranks its wrong pixels in this
  // image; under a flaw map: how well F's (raw) map does. F is useful where it beats the former.
  const SCORED = { t1: ['t1', 'confidence'], t2: ['t2', 'confidence'], flaw_t1: ['flaw_raw_t1', 'F'], flaw_t2: ['flaw_raw_t2', 'F'] };
  function render(layers) {
    const byKey = new Map(layers.map(l => [`${l.probe}/${l.layer}`, l]));
    $('rows').replaceChildren(...probes.map(p => {
      const cells = COLS.map(([key]) => {
        if (!byKey.has(`${p.idx}/${key}`)) return el('td');
        const inner = MASKS.has(key)
          ? [el('img', { src: url(p.idx, 'input'), alt: '' }), el('img', { class: 'overlay', style: `opacity:${state.opacity}`, src: url(p.idx, key, '&overlay=true'), alt: key })]
          : [el('img', { class: key === 'ground_truth' ? 'gt' : '', src: url(p.idx, key), alt: key })];
        const td = el('td', { dataset: { layer: key } }, el('div', { class: 'cell', dataset: { probe: p.idx } }, ...inner));
        if (MASKS.has(key)) td.append(el('div', { class: 'share auroc' }));
        const scored = SCORED[key] && byKey.get(`${p.idx}/${SCORED[key][0]}`);
        if (scored && scored.auroc != null) {
          td.append(el('div', { class: 'auroc', title: 'AUROC of this score as a ranking of the model\'s wrong pixels in this image (0.5 = chance)' },
            `${SCORED[key][1]} AUROC ${scored.auroc.toFixed(2)}`));
        }
        return td;
      });
      const head = el('th', {}, String(p.name), el('br'), el('small', {}, p.labeled ? 'labelled' : 'unlabelled'));
      return el('tr', { class: p.labeled ? 'labeled' : 'unlabeled', dataset: { probe: p.idx } }, head, ...cells);
    }));
    applyXi();
  }
  async function show(step) {
    state.step = step;
    $('step-slider').value = steps.indexOf(step);
    $('step-box').value = step;
    saveUrl();
    const r = await fetch(`/api/runs/${run}/snapshots/${step}`);
    // A later show() may have started meanwhile (slider dragged on): only the newest renders.
    if (r.ok && state.step === step) {
      const layers = await r.json();
      if (state.step === step) render(layers);
    }
  }
  async function load() {
    const r = await fetch(`/api/runs/${run}/snapshots`);
    if (!r.ok) return;
    const idx = await r.json();
    steps = idx.steps; probes = idx.probes;
    $('legend').replaceChildren(...(idx.classes || []).flatMap(c => [el('span', { class: 'swatch', style: `background:${c.colour}` }), String(c.name)]));
    $('step-slider').max = Math.max(0, steps.length - 1);
    if (!steps.length) { $('rows').replaceChildren(el('tr', {}, el('td', { colspan: 14 }, 'No snapshot yet.'))); return; }
    const want = $('follow').checked || !steps.includes(state.step) ? steps[steps.length - 1] : state.step;
    if (want !== state.step || !$('rows').children.length) await show(want);
  }
  const unfollow = () => { $('follow').checked = false; };
  $('step-slider').addEventListener('input', e => { unfollow(); show(steps[+e.target.value]); });
  $('step-box').addEventListener('change', e => {
    unfollow();
    const v = +e.target.value;
    const nearest = steps.reduce((a, b) => Math.abs(b - v) < Math.abs(a - v) ? b : a, steps[0]);
    show(nearest);
  });
  document.addEventListener('keydown', e => {
    if (!steps.length || e.target.tagName === 'INPUT' && e.target.type !== 'range') return;
    const i = steps.indexOf(state.step);
    if (e.key === 'ArrowRight' && i < steps.length - 1) { unfollow(); show(steps[i + 1]); }
    if (e.key === 'ArrowLeft' && i > 0) { unfollow(); show(steps[i - 1]); }
  });
  $('cmap').addEventListener('change', e => { state.cmap = e.target.value; colorbar(); show(state.step); });
  $('xi').addEventListener('input', e => { state.xi = +e.target.value; saveUrl(); applyXi(); });
  $('opacity').addEventListener('input', e => {
    state.opacity = +e.target.value; saveUrl();
    for (const img of document.querySelectorAll('img.overlay')) img.style.opacity = state.opacity;
  });
  let hoverTimer = null;
  $('rows').addEventListener('mousemove', e => {
    const cell = e.target.closest('.cell');
    if (!cell) return;
    const rect = cell.getBoundingClientRect();
    const img = cell.querySelector('img');
    const side = img.naturalWidth || 1;
    const x = Math.floor((e.clientX - rect.left) / rect.width * side), y = Math.floor((e.clientY - rect.top) / rect.height * side);
    clearTimeout(hoverTimer);
    hoverTimer = setTimeout(async () => {
      const r = await fetch(`/api/runs/${run}/snapshots/${state.step}/${cell.dataset.probe}/values?x=${x}&y=${y}`);
      if (!r.ok) return;
      const v = await r.json();
      $('hover').textContent = `probe ${cell.dataset.probe} (${x}, ${y}): ` + Object.entries(v).map(([k, val]) => `${k} ${Array.isArray(val) ? val.join('/') : (+val).toFixed(3)}`).join(' · ');
    }, 60);
  });
  colorbar();
  load();
  const es = new EventSource(`/api/runs/${run}/live`);
  es.addEventListener('snapshot', () => load());
})();
