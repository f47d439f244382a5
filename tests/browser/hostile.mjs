// A hostile dataset: image file names that are markup (<img onerror>, <svg onload>, quotes).
// Upload it, train a short run on it, and open the inspector and compare pages: the names
// show as text, no script of theirs runs, and the page reports no script error.
// Usage: node tests/browser/hostile.mjs BASE_URL OUT_DIR ZIP
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { gotoSettled, waitForRun } from './runs.mjs';
import { readFileSync } from 'node:fs';

const [base, out, zip] = process.argv.slice(2);
const form = new FormData();
form.append('file', new Blob([readFileSync(zip)]), 'hostile.zip');
const up = await fetch(`${base}/api/datasets`, { method: 'POST', body: form });
assert.equal(up.status, 201, await up.clone().text());
const dataset = await up.json();

const [config] = await (await fetch(`${base}/api/presets/gct`)).json();
Object.assign(config, { name: 'hostile-names', device: 'cpu' });
config.data = { ...config.data, source: { kind: 'folder', path: dataset.path, val_fraction: 0.25 }, num_classes: 2, crop_size: 32, base_size: 32, label_ratio: 0.5 };
Object.assign(config.train, { iterations: 4, vis_every: 2, eval_every: 4, probe_labeled: 2, probe_unlabeled: 2 });
config.t1.width = 8; config.t2.width = 8; config.flaw_detector.ndf = 8;
const created = await fetch(`${base}/api/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ config }) });
assert.equal(created.status, 201, await created.clone().text());
const id = (await created.json()).ids[0];
await waitForRun(base, id);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on('pageerror', e => errors.push(String(e)));
  page.on('dialog', d => { errors.push(`dialog: ${d.message()}`); d.dismiss(); });
  // A page script the Content-Security-Policy blocked shows up as a console error.
  page.on('console', m => { if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) errors.push(m.text()); });
  await gotoSettled(page, `${base}/runs/${id}/inspect`);
  await page.waitForSelector('#rows th');
  const names = await page.$$eval('#rows th', ths => ths.map(th => th.textContent));
  assert.ok(names.some(n => n.includes('<img src=x onerror=')), `probe names shown as text: ${names}`);
  assert.equal(await page.locator('#rows th img, #rows th svg').count(), 0, 'no element made from a name');
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a name ran script in the inspector');
  await gotoSettled(page, `${base}/compare?a=${id}&b=${id}`);
  await page.waitForSelector('#cmp-rows th');
  const cmp = await page.$$eval('#cmp-rows th', ths => ths.map(th => th.textContent));
  assert.ok(cmp.some(n => n.includes('<')), `compare rows show names as text: ${cmp}`);
  assert.equal(await page.locator('#cmp-rows th img, #cmp-rows th svg').count(), 0);
  await page.waitForTimeout(500);
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'a name ran script in the compare view');
  assert.deepEqual(errors, []);
  console.log(`hostile names stayed text: run ${id}, ${names.length} probes`);
} finally {
  await browser.close();
}
