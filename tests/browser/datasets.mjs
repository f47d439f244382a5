// Drives Debian's Chromium through the paper's other tasks with uploaded data: a zipped
// LOL-style low/ + high/ folder comes back as "pairs" with the low-light task chosen and
// Adam's learning rate in place, trains, and its run page charts PSNR against the dark
// input's own and its inspector shows the flaw maps beside the true errors; a zipped
// salient-object set with 0/255 masks trains as binary segmentation and its run page says
// how the masks were read and charts max F and MAE.
// A zipped folder of clean photos trains low-light enhancement on the synthetic darkening.
// Usage: node tests/browser/datasets.mjs BASE_URL OUT_DIR PAIRS_ZIP SOD_ZIP PHOTOS_ZIP
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { gotoSettled, waitForRun } from './runs.mjs';

const [base, out, pairsZip, sodZip, photosZip] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const errors = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  page.on('pageerror', e => errors.push(String(e)));
  const upload = async zip => {
    await gotoSettled(page, `${base}/runs/new`);
    await page.setInputFiles('#upload-form input[type=file]', zip);
    await Promise.all([page.waitForURL(/\/runs\/new\?.*path=/), page.click('#upload-form button')]);
  };
  // Small and short: sizes under "advanced", the budget among the essentials.
  const shrink = async (name, iterations) => {
    await page.fill('[name="name"]', name);
    await page.fill('[name="train.iterations"]', String(iterations));
    await page.selectOption('[name="device"]', 'cpu');
    await page.click('details.advanced summary');
    for (const [k, v] of [['data.crop_size', 32], ['data.base_size', 48], ['t1.width', 8], ['t2.width', 8], ['flaw_detector.ndf', 8],
      ['train.eval_every', iterations], ['train.vis_every', 2], ['train.batch_labeled', 2], ['train.batch_unlabeled', 2]]) {
      await page.fill(`[name="${k}"]`, String(v));
    }
    await Promise.all([page.waitForURL(/\/runs\/\d+$/), page.click('button[type=submit]')]);
    return page.url().split('/').pop();
  };

  // Low-light pairs.
  await upload(pairsZip);
  assert.equal(await page.inputValue('[name="data.source.kind"]'), 'pairs');
  assert.equal(await page.inputValue('[name="task"]'), 'lowlight');
  assert.equal(await page.inputValue('[name="train.lr"]'), '0.001', "Adam's lr for restoration");
  assert.ok(await page.isVisible('[name="data.source.input_dir"]') === false, 'folded until advanced opens');
  const lowlight = await shrink('browser-lowlight', 4);
  await waitForRun(base, lowlight);
  await gotoSettled(page, `${base}/runs/${lowlight}`);
  await page.waitForSelector('#charts .uplot');
  assert.match(await page.textContent('#charts'), /degraded input/);
  await page.screenshot({ path: `${out}/lowlight-run.png` });
  await gotoSettled(page, `${base}/runs/${lowlight}/inspect`);
  await page.waitForSelector('td img[alt="flaw_t1"]');
  for (const layer of ['input', 'ground_truth', 't1', 't2', 'wrong_t1', 'flaw_t1', 'flaw_t2', 'dc_mask_t1', 'fc_mask']) {
    assert.ok(await page.locator(`img[alt="${layer}"]`).count() > 0, `no ${layer} panel`);
  }
  await page.waitForFunction(() => [...document.querySelectorAll('td img')].every(i => i.complete && i.naturalWidth > 0));
  await page.screenshot({ path: `${out}/lowlight-inspector.png` });

  // Clean photos: preselected for denoising; switching to low-light shows the darkening
  // settings and keeps Adam's learning rate.
  await upload(photosZip);
  assert.equal(await page.inputValue('[name="data.source.kind"]'), 'photos');
  assert.equal(await page.inputValue('[name="task"]'), 'denoising');
  await page.selectOption('[name="task"]', 'lowlight');
  assert.equal(await page.inputValue('[name="train.lr"]'), '0.001');
  await page.fill('[name="data.label_ratio"]', '0.5');
  const darkened = await shrink('browser-darkened', 4);
  await waitForRun(base, darkened);
  const run = await (await fetch(`${base}/api/runs/${darkened}`)).json();
  assert.equal(run.config.task, 'lowlight');
  assert.equal(run.config.data.source.kind, 'photos');
  const metrics = await (await fetch(`${base}/api/runs/${darkened}/metrics`)).json();
  const last = metrics.evals[metrics.evals.length - 1];
  // The inputs were really darkened: a clean photo scores over 30 dB against itself.
  assert.ok(last.input_scores.psnr > 3 && last.input_scores.psnr < 15, JSON.stringify(last.input_scores));

  // A salient-object set with 0/255 masks.
  await upload(sodZip);
  assert.equal(await page.inputValue('[name="data.source.kind"]'), 'folder');
  assert.equal(await page.inputValue('[name="task"]'), 'segmentation');
  await page.fill('[name="data.num_classes"]', '2');
  const sod = await shrink('browser-sod', 4);
  await waitForRun(base, sod);
  await gotoSettled(page, `${base}/runs/${sod}`);
  await page.waitForSelector('#charts .uplot');
  assert.match(await page.textContent('body'), /masks: binary, 0\/255/);
  assert.match(await page.textContent('#charts'), /Salient-object scores: max F/);
  await page.screenshot({ path: `${out}/sod-run.png` });
  assert.deepEqual(errors, []);
  console.log(`browser datasets test passed: runs ${lowlight}, ${sod}`);
} finally {
  await browser.close();
}
