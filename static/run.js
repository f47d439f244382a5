// Live charts of a run: every loss term (T1, T2, F), lambda_dc * r, learning rates,
// evaluation metrics per model and F's AUROC. Data: /api/runs/ID/metrics, then pushed by
// Server-Sent Events; if the stream drops or lags, the page polls the metrics API.
(function () {
  const root = document.getElementById('charts');
  if (!root || typeof uPlot === 'undefined') return;
  const run = root.dataset.run;
  for (const t of document.querySelectorAll('time[data-ms]')) t.textContent = new Date(+t.dataset.ms).toLocaleTimeString();
  const steps = [], evals = [];
  let last = 0;
  const defs = [
    ['Supervised loss', s => [s.t1.sup, s.t2 ? s.t2.sup : null], ['T1', 'T2']],
    ['Dynamic consistency loss', s => [s.t1.dc, s.t2 ? s.t2.dc : null], ['T1', 'T2']],
    ['Flaw correction loss', s => [s.t1.fc, s.t2 ? s.t2.fc : null], ['T1', 'T2']],
    ['Flaw detector loss', s => [s.fd_loss], ['F']],
    ['lambda_dc * r', s => [s.dc_weight], ['weight']],
    ['Learning rates', s => [s.lr, s.fd_lr], ['task', 'F']],
    ['Mask shares', s => [s.dc_share_t1, s.dc_share_t2, s.fc_share], ['dc T1', 'dc T2', 'fc']],
    // Where the truth is known: dc copies that fix a labelled pixel vs copies that break one.
    ['dc on labelled pixels: copies that fix vs break', s => [s.dc_fix_t1, s.dc_fix_t2, s.dc_break_t1, s.dc_break_t2], ['fix T1', 'fix T2', 'break T1', 'break T2']],
    // The same as the share of class-changing copies that were right (0.5 = chance), over
    // the last 20 logged steps (one step's copies are few), with F's masks and, dashed,
    // with masks made from C(.): the ceiling of F's guidance.
    ['dc copies on labelled pixels that are right (last 20 steps): F vs C(·) (ceiling)', (s, j) => {
      const window = steps.slice(Math.max(0, j - 19), j + 1);
      const total = key => window.reduce((a, x) => (a == null || x[key] == null ? null : a + x[key]), 0);
      const sum = (a, b) => (a == null || b == null ? null : a + b);
      const right = (f, b) => (f == null || b == null || f + b === 0 ? null : f / (f + b));
      return [right(sum(total('dc_fix_t1'), total('dc_fix_t2')), sum(total('dc_break_t1'), total('dc_break_t2'))),
        right(total('dc_fix_with_c'), total('dc_break_with_c'))];
    }, ['F', 'C(·) ceiling']],
    ['Images / s', s => [s.images_per_sec], ['train']],
  ];
  const evalDefs = [
    // Restoration: the degraded input's own PSNR (dashed grey), the floor a restorer must clear.
    ['Validation score (mIoU / PSNR)', e => [0, 1].map(i => e.models[i] ? e.models[i].score : null).concat([e.input_scores ? e.input_scores.psnr : null]), ['T1', 'T2', 'degraded input']],
    // F against the baseline it must beat: each model's own confidence (dashed).
    ['AUROC of wrong pixels: F vs own confidence', e => [
      e.flaw ? e.flaw.auroc_t1 : null, e.flaw ? e.flaw.auroc_t2 : null,
      ...[0, 1].map(i => e.models[i] && e.models[i].confidence ? e.models[i].confidence.auroc : null),
    ], ['F on T1', 'F on T2', 'T1 confidence', 'T2 confidence']],
    // Dynamic consistency's direction: where exactly one model is right, how often the lower
    // map is on the right one (0.5 = chance), for F and for the models' confidence (dashed).
    ['Where one model is right: share where the map picks it (dc direction)', e => {
      const a = e.flaw ? e.flaw.arbitration : null;
      return [a ? a.flaw : null, a ? a.confidence : null];
    }, ['F', 'confidence']],
    ["F's calibration error (ECE; 0 = its values are probabilities of a mistake)", e => ['calibration_t1', 'calibration_t2'].map(k => e.flaw && e.flaw[k] ? e.flaw[k].ece : null), ['F on T1', 'F on T2']],
    ['Share of wrong pixels in the top decile', e => [
      ...['ranking_t1', 'ranking_t2'].map(k => e.flaw && e.flaw[k] ? e.flaw[k].top_decile : null),
      ...[0, 1].map(i => e.models[i] && e.models[i].confidence ? e.models[i].confidence.top_decile : null),
    ], ['F on T1', 'F on T2', 'T1 confidence', 'T2 confidence']],
  ];
  // Binary segmentation runs also chart the salient-object metrics.
  if (root.dataset.binary === 'true') {
    evalDefs.push(['Salient-object scores: max F (β² 0.3) and MAE', e => [
      ...[0, 1].map(i => e.models[i] && e.models[i].sod ? e.models[i].sod.max_f : null),
      ...[0, 1].map(i => e.models[i] && e.models[i].sod ? e.models[i].sod.mae : null),
    ], ['max F T1', 'max F T2', 'MAE T1', 'MAE T2']]);
  }
  const colours = ['#2457d6', '#d6452c', '#2e9d4f', '#8a3fd1'];
  root.innerHTML = '';
  function make(title, names) {
    const div = document.createElement('div'); div.className = 'chart'; root.appendChild(div);
    // Baselines ("... confidence") and dc's breaks are dashed in their model's colour.
    const series = [{ label: 'step' }].concat(names.map((n, i) => {
      const baseline = n.endsWith('confidence') || n.startsWith('break') || n.endsWith('ceiling'), floor = n === 'degraded input';
      return { label: n, stroke: floor ? '#777' : colours[baseline ? Math.max(i - 2, 0) : i], dash: baseline || floor ? [6, 4] : undefined, spanGaps: true };
    }));
    return new uPlot({ title, width: 450, height: 220, series, scales: { x: { time: false } } }, [[]].concat(names.map(() => [])), div);
  }
  const charts = defs.map(([t, , n]) => make(t, n));
  const evalCharts = evalDefs.map(([t, , n]) => make(t, n));
  // F's reliability diagram at the latest evaluation: per bin of F's value, the share of
  // pixels that are really wrong (the diagonal is perfect calibration).
  const centres = [...Array(10).keys()].map(b => (b + 0.5) / 10);
  let reliability = null;
  if (root.dataset.flaw === 'true') {
    const div = document.createElement('div'); div.className = 'chart'; root.appendChild(div);
    const series = [{ label: 'F value' }, { label: 'ideal', stroke: '#999', dash: [4, 4] },
      { label: 'wrong share T1', stroke: colours[0], spanGaps: true }, { label: 'wrong share T2', stroke: colours[1], spanGaps: true }];
    reliability = new uPlot({ title: "F's reliability diagram (latest evaluation)", width: 450, height: 220, series,
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } } }, [centres, centres, [], []], div);
  }
  function redraw() {
    defs.forEach(([, f, n], i) => {
      const cols = [steps.map(s => s.step)].concat(n.map((_, k) => steps.map((s, j) => f(s, j)[k] ?? null)));
      charts[i].setData(cols);
    });
    evalDefs.forEach(([, f, n], i) => {
      const cols = [evals.map(e => e.step)].concat(n.map((_, k) => evals.map(e => f(e)[k] ?? null)));
      evalCharts[i].setData(cols);
    });
    if (steps.length) showProgress(steps[steps.length - 1]);
    const cal = evals.filter(e => e.flaw && e.flaw.calibration_t1).pop();
    if (reliability && cal) {
      reliability.setData([centres, centres, cal.flaw.calibration_t1.wrong, (cal.flaw.calibration_t2 || { wrong: [] }).wrong]);
    }
    const verdict = evals.filter(e => e.flaw_verdict).pop();
    if (verdict) document.getElementById('flaw-verdict').textContent = `At step ${verdict.step}: ${verdict.flaw_verdict}`;
    if (evals.length) showClasses(evals[evals.length - 1]);
  }
  // Segmentation: IoU per class at the latest evaluation, so a class a model has not learnt
  // (its mIoU counts it as 0) is in plain sight, with the engine's sentence about it.
  const classNames = JSON.parse(root.dataset.classes || '[]');
  function showClasses(e) {
    const seg = e.models.filter(m => m.seg);
    const box = document.getElementById('class-iou');
    document.getElementById('class-verdict').textContent = e.class_verdict ? `At step ${e.step}: ${e.class_verdict}` : '';
    if (!seg.length || !box) return;
    box.hidden = false;
    document.getElementById('class-iou-step').textContent = e.step;
    box.querySelectorAll('thead th.model').forEach((th, i) => { th.hidden = i >= seg.length; });
    // F's choice per true class (GCT with two models; absent in runs recorded before it).
    const byClass = e.flaw && e.flaw.arbitration && e.flaw.arbitration.by_class;
    const arb = Array.isArray(byClass) && byClass.length > 0;
    box.querySelectorAll('thead th.arb').forEach(th => { th.hidden = !arb; });
    box.querySelector('p.muted').hidden = !arb;
    const body = box.querySelector('tbody');
    body.replaceChildren(...seg[0].seg.class_iou.map((_, k) => {
      const tr = document.createElement('tr');
      const cell = (text, cls) => { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); };
      cell(classNames[k] ?? `class ${k}`);
      for (const m of seg) {
        const v = m.seg.class_iou[k];
        cell(v == null ? '–' : v.toFixed(3), v != null && v < 0.01 ? 'missed' : ''); // events.rs MISSED_CLASS_IOU
      }
      if (arb) {
        const s = byClass[k];
        cell(s ? s.flaw.toFixed(2) : '–', s && s.flaw < s.confidence ? 'below' : '');
        cell(s ? s.confidence.toFixed(2) : '–');
        cell(s ? String(s.pixels) : '0');
      }
      return tr;
    }));
  }
  // Header: step / total, a progress bar and the time left at the latest step's pace.
  const progress = document.getElementById('progress');
  let total = +progress.max || 0;
  function showProgress(s) {
    document.getElementById('step').textContent = s.step;
    if (!total) return;
    progress.max = total; progress.value = s.step;
    const left = (total - s.step) * s.ms_per_iter / 1000;
    document.getElementById('eta').textContent = s.step < total
      ? `~${left >= 90 ? Math.round(left / 60) + ' min' : Math.round(left) + ' s'} left` : '';
  }
  let pending = false;
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; redraw(); }); } }
  async function poll() {
    const r = await fetch(`/api/runs/${run}/metrics?since=${last}`);
    if (!r.ok) return;
    const m = await r.json();
    for (const s of m.steps) { steps.push(s); last = Math.max(last, s.step); }
    for (const e of m.evals) evals.push(e);
    schedule();
  }
  poll().then(() => {
    const es = new EventSource(`/api/runs/${run}/live`);
    es.addEventListener('step', ev => { const s = JSON.parse(ev.data).data; if (s.step > last) { steps.push(s); last = s.step; schedule(); } });
    es.addEventListener('eval', ev => { evals.push(JSON.parse(ev.data).data); schedule(); });
    // A page opened before the run started learns its length here.
    es.addEventListener('started', ev => {
      total = JSON.parse(ev.data).data.total_iterations || total;
      document.getElementById('total').textContent = total;
      schedule();
    });
    for (const k of ['finished', 'stopped', 'failed']) es.addEventListener(k, () => setTimeout(() => location.reload(), 500));
    es.addEventListener('lagged', poll);
    es.onerror = () => { es.close(); setInterval(poll, 2000); };
  });
})();
