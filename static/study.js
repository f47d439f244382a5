// The study page: a chart of the metric against the label ratio per algorithm (from the
// table the server rendered), diagnostics curves of one run on demand, and a reload when
// a run of the study finishes (the page itself is complete without this script).
(function () {
  // While runs are active, reload when one finishes (or stops, or fails).
  const p = document.getElementById('progress');
  if (+p.dataset.active > 0) {
    const study = p.dataset.study, finished = +p.dataset.finished, active = +p.dataset.active;
    setInterval(async () => {
      const r = await fetch(`/api/studies/${study}`);
      if (!r.ok) return;
      const s = await r.json();
      // Not while the user types in a form or reads a run's curves.
      const busy = (document.activeElement && document.activeElement.form) || document.querySelector('#diag-charts .uplot');
      if (!busy && (s.progress.finished !== finished || s.progress.active !== active)) location.reload();
    }, 5000);
  }
  if (typeof uPlot === 'undefined') return;
  const colours = ['#2457d6', '#d6452c', '#2e9d4f', '#8a3fd1'];
  const names = { gct: 'GCT', suponly: 'SupOnly', dual: 'Dual (no F)' };
  const chartRoot = document.getElementById('study-chart');
  let table;
  try { table = JSON.parse(chartRoot.dataset.table); } catch (e) { return; }
  const pct = table.metric === 'miou' || table.metric === 'pixel_acc' ? 100 : 1;
  // x: log2 of the ratio, so 1/16 .. 1/2 are evenly spaced as in the paper's table.
  const xs = table.ratios.map(r => Math.log2(r));
  const series = [{ label: 'labels', value: (u, v) => v == null ? '' : ratioLabel(2 ** v) }];
  const data = [xs];
  table.rows.forEach((row, i) => {
    series.push({ label: names[row.algorithm] || row.algorithm, stroke: colours[i], width: 2, points: { size: 7 }, spanGaps: true });
    data.push(row.cells.map(c => c ? c.mean * pct : null));
  });
  function ratioLabel(r) { const inv = 1 / r; return Math.abs(inv - Math.round(inv)) < 1e-6 ? (inv === 1 ? 'full' : '1/' + Math.round(inv)) : r.toFixed(3); }
  new uPlot({
    title: `${table.metric} (${table.model}) against the label ratio`, width: 560, height: 280, series,
    scales: { x: { time: false } },
    axes: [{ values: (u, vals) => vals.map(v => ratioLabel(2 ** v)), splits: () => xs }, {}],
  }, data, chartRoot);

  // Diagnostics curves of one run: F's AUROC and T1/T2 agreement per evaluation, mask shares per step.
  const diagRoot = document.getElementById('diag-charts');
  let diagCharts = [];
  async function curves(run) {
    const r = await fetch(`/api/runs/${run}/metrics`);
    if (!r.ok) return;
    const m = await r.json();
    diagCharts.forEach(c => c.destroy());
    const h3 = document.createElement('h3'); h3.textContent = `Run ${run}`;
    diagRoot.replaceChildren(h3);
    const make = (title, labels, cols) => {
      const div = document.createElement('div'); div.className = 'chart'; diagRoot.appendChild(div);
      const s = [{ label: 'step' }].concat(labels.map((l, i) => {
        const baseline = l.endsWith('confidence'); // dashed, in its model's colour
        return { label: l, stroke: colours[baseline ? i - 2 : i], dash: baseline ? [6, 4] : undefined, spanGaps: true };
      }));
      return new uPlot({ title, width: 420, height: 200, series: s, scales: { x: { time: false } } }, cols, div);
    };
    const ev = m.evals, st = m.steps;
    diagCharts = [
      make('AUROC of wrong pixels: F vs own confidence', ['F on T1', 'F on T2', 'T1 confidence', 'T2 confidence'], [ev.map(e => e.step),
        ev.map(e => e.flaw ? e.flaw.auroc_t1 : null), ev.map(e => e.flaw ? e.flaw.auroc_t2 : null),
        ...[0, 1].map(i => ev.map(e => e.models[i] && e.models[i].confidence ? e.models[i].confidence.auroc : null))]),
      make("F's validation loss vs C", ['T1', 'T2'], [ev.map(e => e.step), ev.map(e => e.flaw ? e.flaw.loss_t1 : null), ev.map(e => e.flaw ? e.flaw.loss_t2 : null)]),
      make('Mask shares', ['dc T1 from T2', 'dc T2 from T1', 'fc'], [st.map(s => s.step), st.map(s => s.dc_share_t1), st.map(s => s.dc_share_t2), st.map(s => s.fc_share)]),
      make('T1 / T2 agreement', ['agreement'], [ev.map(e => e.step), ev.map(e => e.agreement)]),
    ];
  }
  for (const b of document.querySelectorAll('button.curves')) b.addEventListener('click', () => curves(b.dataset.run));

})();
