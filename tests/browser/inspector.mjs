// Drives Debian's Chromium (playwright-core from npm, no browser download) through the
// dashboard: new-run form -> a short GCT run on the built-in set -> the inspector shows
// flaw maps and masks, and moving the step slider changes them. Screenshots go to OUT.
// Usage: node tests/browser/inspector.mjs BASE_URL OUT_DIR
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { gotoSettled, waitForRun } from './runs.mjs';

const [base, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1800, height: 1100 } });
  await gotoSettled(page, `${base}/runs/new`);
  // The form: essentials shown with their help, the rest folded under "advanced".
  const visible = name => page.isVisible(`[name="${name}"]`);
  for (const name of ['task', 'algorithm', 'data.label_ratio', 't1.arch', 'train.iterations']) assert.ok(await visible(name), `${name} is not shown`);
  assert.ok(!(await visible('gct.lambda_dc')), 'advanced fields start folded');
  assert.match(await page.textContent('#help-data\\.label_ratio'), /keep their labels/);
  await page.click('details.advanced summary');
  assert.ok(await visible('gct.lambda_dc'));
  assert.match(await page.textContent('#help-gct\\.lambda_dc'), /Paper: 100\./);
  // Task-specific fields follow the task; the pairs' folders follow the dataset source.
  assert.ok(!(await visible('data.darken.photons')) && !(await visible('data.noise_sigma')));
  await page.selectOption('[name="task"]', 'lowlight');
  assert.ok(await visible('data.darken.photons') && !(await visible('data.num_classes')));
  // F's experiments that need class probabilities leave with the classes.
  assert.ok(!(await visible('gct.fd_class_swaps')) && !(await visible('flaw_detector.confidence_residual')));
  await page.selectOption('[name="data.source.kind"]', 'pairs');
  assert.ok(await visible('data.source.input_dir') && await visible('data.source.val_path'));
  await page.screenshot({ path: `${out}/new-run.png`, fullPage: true });
  await page.selectOption('[name="data.source.kind"]', 'shapes');
  await page.selectOption('[name="task"]', 'segmentation');
  assert.ok(await visible('data.num_classes') && !(await visible('data.darken.photons')));
  assert.ok(await visible('gct.fd_class_swaps') && await visible('flaw_detector.confidence_residual'));
  // A short run: few iterations, a snapshot every 3, small nets.
  const set = async (name, value) => page.fill(`[name="${name}"]`, String(value));
  await set('name', 'browser-gct');
  await set('train.iterations', 12);
  await set('train.vis_every', 3);
  await set('train.eval_every', 6);
  await set('t1.width', 8);
  await set('t2.width', 8);
  await set('flaw_detector.ndf', 8);
  await page.selectOption('[name="algorithm"]', 'gct');
  await Promise.all([page.waitForURL(/\/runs\/\d+$/), page.click('button[type=submit]')]);
  const id = page.url().split('/').pop();

  // Wait for the run to finish (the page's own SSE reloads it; poll the API to be sure).
  await waitForRun(base, id);
  await gotoSettled(page, `${base}/runs/${id}`);
  await page.waitForSelector('#charts .uplot');
  // The run page says in words whether F beats the models' own confidence at the last evaluation.
  await page.waitForFunction(() => /AUROC of F vs confidence: T1 0\.\d+ vs 0\.\d+, T2/.test(document.querySelector('#flaw-verdict').textContent));
  assert.match(await page.textContent('#charts'), /F vs own confidence/);
  assert.match(await page.textContent('#charts'), /Where one model is right/);
  assert.match(await page.textContent('#charts'), /copies that fix vs break/);
  assert.match(await page.textContent('#charts'), /that are right \(last 20 steps\): F vs C/);
  assert.match(await page.textContent('#charts'), /F's reliability diagram/);
  assert.match(await page.textContent('#charts'), /calibration error/);
  // IoU per class at the last evaluation, with the class names, matching the metrics API;
  // a class a model has not learnt (IoU < 0.01) is marked, and named in words above.
  const rows = await page.$$eval('#class-iou tbody tr', trs => trs.map(tr => [...tr.cells].map(td => [td.textContent, td.className])));
  assert.deepEqual(rows.map(r => r[0][0]), ['background', 'ellipse', 'rectangle', 'triangle']);
  const metrics = await (await fetch(`${base}/api/runs/${id}/metrics`)).json();
  const lastEval = metrics.evals[metrics.evals.length - 1];
  for (const [m, model] of lastEval.models.entries()) {
    lastEval.models[m].seg.class_iou.forEach((v, k) => {
      const [text, cls] = rows[k][m + 1];
      assert.equal(text, v == null ? '–' : v.toFixed(3), `${model.model} class ${k}`);
      assert.equal(cls === 'missed', v != null && v < 0.01, `${model.model} class ${k} marked`);
    });
  }
  // Beside it, per true class, F's and the confidence's choice where one model is right.
  const byClass = lastEval.flaw.arbitration.by_class;
  assert.ok(byClass.length > 0, 'a GCT run scores F per class');
  const models = lastEval.models.length;
  rows.forEach((r, k) => {
    const s = byClass[k];
    assert.deepEqual(r.slice(models + 1).map(c => c[0]), s ? [s.flaw.toFixed(2), s.confidence.toFixed(2), String(s.pixels)] : ['–', '–', '0'], `class ${k}`);
  });
  assert.equal(await page.$eval('#class-iou thead th.arb', th => th.hidden), false);
  const missed = rows.flat().filter(([, cls]) => cls === 'missed').length;
  const classVerdict = await page.textContent('#class-verdict');
  assert.equal(missed > 0, /not learnt '/.test(classVerdict), `${missed} missed cells vs "${classVerdict}"`);
  // Header progress of a finished run, and a favicon that exists.
  assert.equal(await page.textContent('#total'), '12');
  assert.equal(await page.$eval('#progress', p => p.value), 12);
  const icon = await page.getAttribute('link[rel=icon]', 'href');
  assert.equal((await fetch(base + icon)).status, 200, 'favicon');
  await page.screenshot({ path: `${out}/run.png` });

  await gotoSettled(page, `${base}/runs/${id}/inspect`);
  const flaw = 'td img[alt="flaw_t1"]';
  await page.waitForSelector(flaw);
  for (const layer of ['input', 'ground_truth', 't1', 't2', 'wrong_t1', 'wrong_t2', 'flaw_t1', 'flaw_t2', 'target_t1', 'dc_mask_t1', 'dc_mask_t2', 'fc_mask']) {
    const n = await page.locator(`img[alt="${layer}"]`).count();
    assert.ok(n > 0, `no ${layer} panel`);
  }
  await page.waitForFunction(s => [...document.querySelectorAll(s)].every(i => i.complete && i.naturalWidth > 0), flaw);
  // Per image: F's AUROC under each flaw map, the model's confidence AUROC under its prediction.
  const scores = await page.locator('td .auroc').allTextContents();
  assert.ok(scores.some(t => /^F AUROC (0|1)\.\d\d$/.test(t)), `no F AUROC under a flaw map: ${scores}`);
  assert.ok(scores.some(t => /^confidence AUROC (0|1)\.\d\d$/.test(t)), `no confidence AUROC under a prediction: ${scores}`);
  assert.match(await page.textContent('#legend'), /background.*ellipse.*rectangle.*triangle/);
  const latest = await page.inputValue('#step-box');
  const srcLatest = await page.getAttribute(flaw, 'src');
  const bytes = async src => Buffer.from(await (await fetch(base + src)).arrayBuffer()).toString('base64');
  const imgLatest = await bytes(srcLatest);
  await page.screenshot({ path: `${out}/inspector.png` });
  // ξ: the masks are recomputed in the page from the flaw maps served as data. The fc mask
  // (both flaw maps above ξ) can only grow as ξ falls.
  const fcShare = async () => parseFloat(await page.textContent('tr[data-probe="0"] td[data-layer="fc_mask"] .share'));
  await page.waitForFunction(() => /% of pixels/.test(document.querySelector('tr[data-probe="0"] td[data-layer="fc_mask"] .share')?.textContent || ''));
  const trainedShare = await fcShare();
  await page.$eval('#xi', el => { el.value = 0.05; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.querySelector('tr[data-probe="0"] td[data-layer="fc_mask"] img.overlay').src.startsWith('data:image/png'));
  assert.ok(await fcShare() >= trainedShare, `fc share at xi 0.05 below the trained one (${trainedShare})`);
  assert.match(page.url(), /xi=0.05/);
  assert.match(await page.textContent('#xi-value'), /^0\.05$/);
  await page.$eval('#xi', el => { el.value = 0.6; el.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.querySelector('#xi-value').textContent === '0.60 (trained)');
  // All thirteen columns fit a 1280-pixel window.
  await page.setViewportSize({ width: 1280, height: 900 });
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 1280, `the inspector is ${width} px wide in a 1280 px window`);
  await page.screenshot({ path: `${out}/inspector-1280.png` });
  await page.setViewportSize({ width: 1800, height: 1100 });

  // Move the slider to the first saved step: every panel follows, "follow latest" turns off.
  await page.focus('#step-slider');
  await page.$eval('#step-slider', el => { el.value = 0; el.dispatchEvent(new Event('input')); });
  // The step box changes at once; the panels once the step's layers have arrived.
  await page.waitForFunction(v => document.querySelector('#step-box').value !== v, latest);
  await page
    .waitForFunction(([s, old]) => document.querySelector(s)?.getAttribute('src') !== old, [flaw, srcLatest], { timeout: 30000 })
    .catch(() => assert.fail('the flaw panel did not change step'));
  const srcFirst = await page.getAttribute(flaw, 'src');
  assert.notEqual(await bytes(srcFirst), imgLatest, 'the flaw map is the same picture at both steps');
  assert.equal(await page.isChecked('#follow'), false);
  assert.match(page.url(), /step=\d+/);
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(s => document.querySelector('#step-box').value !== s, srcFirst.split('/')[5]);
  await page.screenshot({ path: `${out}/inspector-first-step.png` });
  // The compare view (a run against itself is enough to check it renders both sides).
  await gotoSettled(page, `${base}/compare?a=${id}&b=${id}`);
  await page.waitForSelector('#compare-charts .uplot');
  await page.waitForSelector('#cmp-rows img[alt="flaw_t1"]');
  assert.equal(await page.locator('#cmp-rows tr').first().locator('img[alt="flaw_t1"]').count(), 2);
  console.log(`browser test passed: run ${id}, steps ${srcFirst.split('/')[5]} -> ${latest}`);
} finally {
  await browser.close();
}
