// Screenshot a dashboard page with Debian's Chromium (for the README's pictures).
// Usage: node scripts/screenshot.mjs URL OUT.png [WIDTH] [WAIT_SELECTOR]
import { chromium } from 'playwright-core';

const [url, out, width = '1400', wait = 'main'] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage({ viewport: { width: +width, height: 900 } });
  await page.goto(url);
  await page.waitForSelector(wait);
  await page.screenshot({ path: out, fullPage: true });
} finally {
  await browser.close();
}
