// Helpers shared by the browser scenarios.
import assert from 'node:assert/strict';

/// Poll the API until run `id` has finished (fails on failed / stopped, or after 5 minutes).
export async function waitForRun(base, id) {
  for (let i = 0; ; i++) {
    const run = await (await fetch(`${base}/api/runs/${id}`)).json();
    if (run.status === 'finished') return run;
    assert.ok(!['failed', 'stopped'].includes(run.status), `run ended ${run.status}: ${run.error}`);
    assert.ok(i < 600, 'run did not finish in time');
    await new Promise(r => setTimeout(r, 500));
  }
}

/// page.goto that tolerates the run page reloading itself (its event stream reloads it when
/// the run ends): a navigation it interrupts is simply made again.
export async function gotoSettled(page, url) {
  for (let i = 0; ; i++) {
    try {
      return await page.goto(url);
    } catch (e) {
      if (i >= 5 || !/interrupted by another navigation/.test(String(e.message))) throw e;
      await new Promise(r => setTimeout(r, 200));
    }
  }
}
