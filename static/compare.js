// Two runs side by side (e.g. GCT vs SupOnly): validation scores and supervised losses
// overlaid, and the inspector rows of both at the same step (each run's nearest saved step).
(function () {
  const root = document.getElementById('compare');
  if (!root || typeof uPlot === 'undefined') return;
  const A = root.dataset.a, B = root.dataset.b;
  const get = u => fetch(u).then(r => r.ok ? r.json() : Promise.reject(u));
  const colours = ['#2457d6', '#7aa2f7', '#d6452c', '#f0a08f'];
  function chart(title, names, xs, cols) {
    const div = document.createElement('div'); div.className = 'chart';
    document.getElementById('compare-charts').appendChild(div);
    const series = [{ label: 'step' }].concat(names.map((n, i) => ({ label: n, stroke: colours[i], spanGaps: true })));
    new uPlot({ title, width: 560, height: 240, series, scales: { x: { time: false } } }, [xs].concat(cols), div);
  }
  function aligned(runs, pick) {
    const xs = [...new Set(runs.flatMap(r => r.map(e => e.step)))].sort((p, q) => p - q);
    const cols = runs.flatMap(r => {
      const by = new Map(r.map(e => [e.step, e]));
      return [0, 1].map(k => xs.map(x => by.has(x) ? (pick(by.get(x))[k] ?? null) : null));
    });
    return [xs, cols];
  }
  Promise.all([get(`/api/runs/${A}/metrics`), get(`/api/runs/${B}/metrics`)]).then(([ma, mb]) => {
    const names = [`${A} T1`, `${A} T2`, `${B} T1`, `${B} T2`];
    let [xs, cols] = aligned([ma.evals, mb.evals], e => e.models.map(m => m.score));
    chart('Validation score (mIoU / PSNR)', names, xs, cols);
    [xs, cols] = aligned([ma.steps, mb.steps], s => [s.t1.sup, s.t2 ? s.t2.sup : null]);
    chart('Supervised loss', names, xs, cols);
  });
  Promise.all([get(`/api/runs/${A}/snapshots`), get(`/api/runs/${B}/snapshots`)]).then(([sa, sb]) => {
    const steps = [...new Set(sa.steps.concat(sb.steps))].sort((p, q) => p - q);
    const slider = document.getElementById('cmp-slider');
    slider.max = Math.max(0, steps.length - 1);
    slider.value = slider.max;
    const nearest = (list, s) => list.reduce((x, y) => Math.abs(y - s) < Math.abs(x - s) ? y : x, list[0]);
    // Probe names come from dataset file names: inserted as text, never as markup.
    const td = (run, step, probe, layer) => {
      const div = document.createElement('div');
      div.className = 'cell';
      if (step !== undefined) {
        const im = document.createElement('img');
        im.src = `/api/runs/${run}/snapshots/${step}/${probe}/${layer}.png`;
        im.alt = layer;
        im.addEventListener('error', () => im.remove());
        div.append(im);
      }
      const cell = document.createElement('td');
      cell.append(div);
      return cell;
    };
    function show() {
      const s = steps[+slider.value];
      const a = nearest(sa.steps, s), b = nearest(sb.steps, s);
      document.getElementById('cmp-step').textContent = `${s} (run ${A}: ${a}, run ${B}: ${b})`;
      document.getElementById('cmp-rows').replaceChildren(...sa.probes.map(p => {
        const tr = document.createElement('tr');
        const th = document.createElement('th');
        th.textContent = String(p.name);
        tr.append(th, td(A, a, p.idx, 'input'), td(A, a, p.idx, 'ground_truth'),
          ...['t1', 't2', 'flaw_t1'].map(l => td(A, a, p.idx, l)),
          ...['t1', 't2', 'flaw_t1'].map(l => td(B, b, p.idx, l)));
        return tr;
      }));
    }
    slider.addEventListener('input', show);
    if (steps.length) show();
  });
})();
