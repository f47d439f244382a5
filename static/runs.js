// The runs list, live: each recorded event patches its run's row in place (status,
// progress with an ETA from the recent step rate, best scores). Only a run the page does
// not show yet, or a stream that fell behind or closed, reloads the page. Without
// JavaScript the page is static.
(function () {
  const rows = new Map([...document.querySelectorAll('tr[data-run]')].map(tr => [tr.dataset.run, tr]));
  const rate = new Map(); // run -> [first step seen, its time]
  const es = new EventSource('/api/live');
  const query = new URLSearchParams(location.search);
  const filtered = ['status', 'tag'].some(k => query.get(k));
  function row(id) {
    const tr = rows.get(String(id));
    // A run this page does not show: new (reload to show it) or filtered out (ignore).
    if (!tr && !filtered) setTimeout(() => location.reload(), 300);
    return tr;
  }
  function setStatus(tr, status) {
    const span = tr.querySelector('.status-cell .status');
    span.className = 'status ' + status;
    span.textContent = status;
  }
  es.addEventListener('started', ev => {
    const { run_id, data } = JSON.parse(ev.data);
    const tr = row(run_id); if (!tr) return;
    setStatus(tr, 'running');
    const p = tr.querySelector('.progress-cell progress');
    p.max = data.total_iterations; p.value = data.start_step;
    tr.querySelector('.progress-cell .count').textContent = `${data.start_step}/${data.total_iterations}`;
    rate.delete(String(run_id));
  });
  es.addEventListener('step', ev => {
    const { run_id, data } = JSON.parse(ev.data);
    const tr = row(run_id); if (!tr) return;
    const p = tr.querySelector('.progress-cell progress');
    p.value = data.step;
    tr.querySelector('.progress-cell .count').textContent = `${data.step}/${p.max}`;
    const key = String(run_id), now = Date.now();
    if (!rate.has(key)) rate.set(key, [data.step, now]);
    const [s0, t0] = rate.get(key);
    if (data.step > s0) {
      const left = (p.max - data.step) * (now - t0) / (data.step - s0) / 1000;
      tr.querySelector('.progress-cell .eta').textContent = `~${Math.round(left)}s left`;
    }
  });
  es.addEventListener('eval', ev => {
    const { run_id, data } = JSON.parse(ev.data);
    const tr = row(run_id); if (!tr) return;
    for (const m of data.models) {
      const cell = tr.querySelector(m.model === 'T1' ? '.best-t1' : '.best-t2');
      if (typeof m.score !== 'number') continue; // a diverged model's NaN arrives as null
      const old = parseFloat(cell.textContent);
      if (isNaN(old) || m.score > old) cell.textContent = m.score.toFixed(4);
    }
  });
  for (const k of ['finished', 'stopped', 'failed']) {
    es.addEventListener(k, ev => {
      const { run_id } = JSON.parse(ev.data);
      const tr = row(run_id); if (!tr) return;
      setStatus(tr, k);
      tr.querySelector('.progress-cell .eta').textContent = '';
    });
  }
  es.addEventListener('lagged', () => location.reload());
  // EventSource reconnects by itself after a drop; a closed stream (the server refused it,
  // e.g. too many open streams: 503) gets a reload a few seconds later, at most once a minute.
  es.addEventListener('error', () => setTimeout(() => {
    if (es.readyState !== EventSource.CLOSED) return;
    const last = +sessionStorage.getItem('flawmap-runs-reload') || 0;
    if (Date.now() - last < 60000) return;
    sessionStorage.setItem('flawmap-runs-reload', String(Date.now()));
    location.reload();
  }, 5000));
})();
