// Drives Debian's Chromium through a study: the new-study form (a TOML editor) -> a tiny
// GCT-vs-SupOnly grid -> the runs list patches progress live without reloading -> the study
// page shows the table with every cell filled, its chart, and a run's diagnostics curves.
// First, a zipped dataset uploads from the new-run page through the progress-reporting
// path and comes back selected in the form.
// Usage: node tests/browser/study.mjs BASE_URL OUT_DIR ZIP
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { gotoSettled } from './runs.mjs';
import { writeFileSync, rmSync } from 'node:fs';

const [base, out, zip] = process.argv.slice(2);
const study = `name = "browser-study"
label_ratios = [0.25, 0.5]
algorithms = ["gct", "suponly"]
seeds = [1]
iterations = 40

[run]
name = "browser-study"
task = "segmentation"
device = "cpu"

[run.data]
source = { kind = "shapes", train_images = 16, val_images = 4, image_size = 32 }
crop_size = 32
base_size = 32

[run.t1]
width = 4
depth = 2

[run.t2]
width = 4
depth = 2

[run.flaw_detector]
ndf = 4

[run.train]
batch_labeled = 2
batch_unlabeled = 2
eval_every = 10
vis_every = 0
`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1200 } });
  page.on('pageerror', e => errors.push(String(e)));
  await gotoSettled(page, `${base}/runs/new`);
  const xhrs = [];
  page.on('request', r => { if (r.resourceType() === 'xhr' && r.method() === 'POST') xhrs.push(r.url()); });
  // A file over the limit is refused by the page itself, before anything is sent.
  const big = `${out}/big.zip`;
  writeFileSync(big, Buffer.alloc(65 * 1024 * 1024));
  await page.setInputFiles('#upload-form input[type=file]', big);
  await page.click('#upload-form button');
  await page.waitForFunction(() => /big\.zip is 65\.0 MiB: uploads may be at most 64\.0 MiB/.test(document.querySelector('#upload-status').textContent));
  assert.deepEqual(xhrs, [], 'nothing was sent for the oversized file');
  rmSync(big);
  await page.setInputFiles('#upload-form input[type=file]', zip);
  await Promise.all([page.waitForURL(/\/runs\/new\?.*path=/), page.click('#upload-form button')]);
  assert.deepEqual(xhrs, [`${base}/datasets`], 'the upload went through XMLHttpRequest (with progress)');
  assert.match(await page.inputValue('[name="data.source.path"]'), /uploads.*nuclei-upload/);
  assert.equal(await page.inputValue('[name="data.source.kind"]'), 'folder');

  // An invalid study first: it comes back with the field named and the text kept.
  await gotoSettled(page, `${base}/studies/new`);
  await page.fill('textarea[name="toml"]', study.replace('[0.25, 0.5]', '[0.25, 3.0]'));
  await page.click('button');
  await page.waitForSelector('#errors');
  assert.match(await page.textContent('#errors'), /label_ratios/);
  assert.match(await page.inputValue('textarea[name="toml"]'), /\[0\.25, 3\.0\]/);
  await page.fill('textarea[name="toml"]', study);
  await Promise.all([page.waitForURL(/\/studies\/\d+$/), page.click('button')]);
  const id = page.url().split('/').pop();

  // The runs list follows the study's runs live: progress moves, the page is not reloaded.
  const list = await browser.newPage();
  list.on('pageerror', e => errors.push(String(e)));
  await list.goto(`${base}/`);
  await list.evaluate(() => { window.notReloaded = true; });
  const before = await list.$$eval('tr[data-run] progress', ps => ps.map(p => p.value).join(','));
  await list.waitForFunction(b => [...document.querySelectorAll('tr[data-run] progress')].map(p => p.value).join(',') !== b, before, { timeout: 120000 });
  assert.equal(await list.evaluate(() => window.notReloaded), true, 'the runs list reloaded instead of patching');

  for (let i = 0; ; i++) {
    const s = await (await fetch(`${base}/api/studies/${id}`)).json();
    if (s.progress.status === 'finished') break;
    assert.ok(s.progress.failed === 0, `a run failed: ${JSON.stringify(s.runs)}`);
    assert.ok(i < 600, 'the study did not finish in time');
    await new Promise(r => setTimeout(r, 500));
  }
  await gotoSettled(page, `${base}/studies/${id}`);
  await page.waitForSelector('#study-chart .uplot');
  const cells = await page.$$eval('#study-table tbody tr:not(.delta)', rows => rows.map(r => [...r.querySelectorAll('td .value')].map(td => td.textContent)));
  assert.equal(cells.length, 2);
  for (const row of cells) {
    assert.equal(row.length, 2);
    for (const v of row) assert.match(v, /^\d+\.\d\d$/, `cell "${v}"`);
  }
  assert.match(await page.textContent('#study-table'), /GCT − SupOnly/);
  await page.click('button.curves');
  await page.waitForFunction(() => document.querySelectorAll('#diag-charts .uplot').length === 4);
  await page.screenshot({ path: `${out}/study.png`, fullPage: true });
  assert.deepEqual(errors, []);
  console.log(`browser study test passed: study ${id}`);
} finally {
  await browser.close();
}
