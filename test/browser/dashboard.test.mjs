// Browser test of the linkd dashboard: opens it in headless Chromium and
// checks what a person watching the lane would see.
//
//   LINKD_DASHBOARD_URL=http://127.0.0.1:8089/ node dashboard.test.mjs
//
// Expectations (environment, all optional):
//   LINKD_EXPECT_NODES          comma-separated party ids the map must show;
//                               default: every node in the page's config.json
//   LINKD_EXPECT_HOLD           0 to skip: the feed shows a HOLD
//   LINKD_EXPECT_REALLOCATION   from:to1,to2 (default dc-hamburg:dc-rotterdam,dc-antwerp);
//                               0 to skip: allocations show an order moved from → to
//   LINKD_EXPECT_LINKS          0 to skip: with several nodes, links are drawn
//   LINKD_EXPECT_SHIPMENT       0 to skip: the held shipment's timeline shows the
//                               HOLD, and every event's verification is answered
//   LINKD_TOKEN                 API token, for a node-mode dashboard that asks for one
//   LINKD_ALLOWED_HOSTS         hosts besides 127.0.0.1, localhost and ::1 the page may reach
//   LINKD_TIMEOUT_MS            how long to wait for the hold and re-allocation (120000)
//   LINKD_SCREENSHOT            where to save the screenshot (../../docs/dashboard.png)
//   CHROMIUM                    the browser binary (default: chromium on the PATH)
//
// Exits 0 when every expectation holds, 1 with a message saying which did
// not (and a screenshot next to LINKD_SCREENSHOT named *-failed.png).

import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const url = env.LINKD_DASHBOARD_URL || process.argv[2];
const timeout = Number(env.LINKD_TIMEOUT_MS || 120000);
const screenshot = resolve(here, env.LINKD_SCREENSHOT || '../../docs/dashboard.png');
const realloc = env.LINKD_EXPECT_REALLOCATION === '0' ? null : parseRealloc(env.LINKD_EXPECT_REALLOCATION || 'dc-hamburg:dc-rotterdam,dc-antwerp');
const loopback = new Set(['127.0.0.1', 'localhost', '[::1]', '::1', ...(env.LINKD_ALLOWED_HOSTS || '').split(',').filter(Boolean)]);

function parseRealloc(s) {
  const [from, to = ''] = s.split(':');
  return { from, to: to.split(',').filter(Boolean) };
}

function findChromium() {
  for (const c of [env.CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']) {
    if (c && existsSync(c)) return c;
  }
  try {
    return execFileSync('sh', ['-c', 'command -v chromium || command -v chromium-browser || command -v google-chrome'], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

const log = (...a) => console.log('·', ...a);
const problems = [];

async function main() {
  if (!url) throw new Error('set LINKD_DASHBOARD_URL (or pass the URL as the first argument)');
  const executablePath = findChromium();
  if (!executablePath) throw new Error('no chromium binary found: apt-get install -y chromium, or set CHROMIUM');

  const browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const context = await browser.newContext({ viewport: { width: 1600, height: 1100 } });
  const page = await context.newPage();
  const pageErrors = [];
  const outside = [];
  page.on('pageerror', (e) => pageErrors.push(String(e && e.stack || e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) log('console error:', m.text()); });
  // Every request the page makes must stay on this machine: no CDN, no
  // tiles, no fonts. Requests elsewhere are recorded and refused.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (['data:', 'blob:', 'about:'].includes(u.protocol) || loopback.has(u.hostname)) return route.continue();
    outside.push(route.request().url());
    return route.abort('blockedbyclient');
  });

  try {
    await run(page);
  } catch (err) {
    problems.push(err.message);
  }
  if (pageErrors.length) problems.push(`the page threw ${pageErrors.length} error(s):\n    ${pageErrors.join('\n    ')}`);
  if (outside.length) problems.push(`the page asked for ${outside.length} resource(s) off this machine:\n    ${[...new Set(outside)].join('\n    ')}`);

  const shot = problems.length ? screenshot.replace(/(\.png)?$/, '-failed.png') : screenshot;
  mkdirSync(dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true }).catch((e) => log('screenshot failed:', e.message));
  log('screenshot', shot);
  await browser.close();
  if (problems.length) {
    console.error(`\nFAIL: the dashboard at ${url}:\n  - ${problems.join('\n  - ')}`);
    process.exit(1);
  }
  console.log(`\nPASS: the dashboard at ${url} shows what it should`);
}

async function run(page) {
  log('open', url);
  const res = await page.goto(url, { waitUntil: 'domcontentloaded', timeout: 30000 });
  if (!res || !res.ok()) throw new Error(`GET ${url} answered ${res ? res.status() : 'nothing'}`);
  const csp = res.headers()['content-security-policy'] || '';
  if (!/default-src 'self'/.test(csp)) problems.push(`the page's Content-Security-Policy is ${JSON.stringify(csp)}; want default-src 'self'`);
  await page.locator('[data-testid="network-map"]').waitFor({ timeout: 15000 });

  // Node mode asks for a token first.
  const dialog = page.locator('[data-testid="token-dialog"]');
  if (await dialog.isVisible()) {
    if (!env.LINKD_TOKEN) throw new Error('the dashboard asks for an API token (node mode): set LINKD_TOKEN');
    log('entering the API token');
    await page.locator('#token-input').fill(env.LINKD_TOKEN);
    await page.locator('#token-form button[type="submit"]').click();
    // A refused token reloads the page, which asks again with the reason.
    const outcome = await poll(page, () => {
      const d = document.querySelector('[data-testid="token-dialog"]');
      const e = document.querySelector('[data-testid="token-error"]');
      if (d && d.open && e && !e.hidden) return `refused: ${e.textContent}`;
      if (window.linkdDashboard && window.linkdDashboard.nodes.length) return 'ok';
      return '';
    }, 20000);
    if (outcome !== 'ok') throw new Error(`the node did not take the token (${outcome || 'no answer in 20 s'})`);
  }

  // The map shows every node.
  await page.waitForFunction(() => window.linkdDashboard && window.linkdDashboard.nodes.length > 0, null, { timeout: 15000 })
    .catch(() => { throw new Error('the dashboard never learned its nodes (config.json or /v1/node/card)'); });
  const configured = await page.evaluate(() => window.linkdDashboard.nodes.map((n) => n.id));
  const nodes = env.LINKD_EXPECT_NODES ? env.LINKD_EXPECT_NODES.split(',').map((s) => s.trim()).filter(Boolean) : configured;
  const mapBox = await page.locator('[data-testid="network-map"]').boundingBox();
  for (const id of nodes) {
    const node = page.locator(`[data-testid="node-${id}"]`);
    try {
      await node.waitFor({ state: 'visible', timeout: 15000 });
    } catch {
      problems.push(`the map does not show node ${id}`);
      continue;
    }
    const b = await node.boundingBox();
    if (!b || !mapBox || b.x < mapBox.x - 1 || b.y < mapBox.y - 1 || b.x + b.width > mapBox.x + mapBox.width + 60 || b.y + b.height > mapBox.y + mapBox.height + 1) {
      problems.push(`node ${id} is drawn outside the map (${JSON.stringify(b)} vs ${JSON.stringify(mapBox)})`);
    }
  }
  log(`map shows ${nodes.length} node(s): ${nodes.join(', ')}`);

  if (env.LINKD_EXPECT_LINKS !== '0' && configured.length > 1) {
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="link-"][data-health]').length > 0, null, { timeout: 30000 })
      .then(async () => {
        const health = await page.$$eval('[data-testid^="link-"][data-health]', (ls) => ls.map((l) => l.dataset.health));
        const count = (h) => health.filter((x) => x === h).length;
        log(`links: ${health.length} drawn (${count('ok')} ok, ${count('lag')} lagging, ${count('down')} down, ${count('unknown')} unknown)`);
      })
      .catch(() => problems.push('no link between nodes is drawn on the map after 30 s'));
  }

  // The feed shows the customs hold.
  let heldRef = '';
  if (env.LINKD_EXPECT_HOLD !== '0') {
    log(`waiting up to ${timeout / 1000} s for a HOLD in the feed`);
    const hold = page.locator('[data-testid="feed"] [data-testid="feed-item"][data-code="HOLD"]').first();
    try {
      await hold.waitFor({ state: 'visible', timeout });
      const text = (await hold.textContent()) || '';
      heldRef = (await hold.getAttribute('data-ref')) || '';
      if (!/HOLD/.test(text)) problems.push(`the feed's hold item does not say HOLD: ${JSON.stringify(text)}`);
      log('feed:', text.trim());
    } catch {
      problems.push(`the feed showed no HOLD within ${timeout / 1000} s`);
    }
  }

  // Allocations show an order moved from Hamburg to Rotterdam or Antwerp.
  if (realloc) {
    log(`waiting for an order moved ${realloc.from} → ${realloc.to.join(' or ')}`);
    try {
      await page.waitForFunction(({ from, to }) => [...document.querySelectorAll('[data-testid="allocations"] [data-testid="allocation-move"]')]
        .some((m) => m.dataset.from === from && (!to.length || to.includes(m.dataset.to))), realloc, { timeout });
      const moves = await page.$$eval('[data-testid="allocation-move"]', (ms) => ms.map((m) => m.textContent.trim()));
      log(`allocations: ${moves.length} move(s), e.g. ${moves[0]}`);
    } catch {
      const seen = await page.$$eval('[data-testid="allocation-move"]', (ms) => ms.map((m) => `${m.dataset.from}→${m.dataset.to}`));
      problems.push(`no order moved ${realloc.from} → ${realloc.to.join(' or ')} within ${timeout / 1000} s (moves shown: ${seen.join(', ') || 'none'})`);
    }
  }

  // The held shipment's verified timeline.
  if (env.LINKD_EXPECT_SHIPMENT !== '0' && heldRef) {
    log('looking up', heldRef);
    await page.locator('[data-testid="shipment-ref"]').fill(heldRef);
    await page.locator('[data-testid="shipment-form"] button[type="submit"]').click();
    try {
      await page.locator('[data-testid="shipment-timeline"] [data-testid="timeline-entry"][data-code="HOLD"]').first().waitFor({ state: 'visible', timeout: 30000 });
      await page.waitForFunction(() => {
        const v = [...document.querySelectorAll('[data-testid="shipment-timeline"] [data-testid="verification"]')];
        return v.length > 0 && v.every((x) => x.dataset.state !== 'checking');
      }, null, { timeout: 60000 });
      const states = await page.$$eval('[data-testid="shipment-timeline"] [data-testid="verification"]', (vs) => vs.map((v) => [v.dataset.state, v.textContent]));
      const failed = states.filter(([s]) => s === 'failed');
      const verified = states.filter(([s]) => s === 'verified');
      log(`timeline: ${states.length} events, ${verified.length} verified, ${states.length - verified.length - failed.length} without a proof endpoint`);
      if (verified.length) log('e.g.', verified[0][1]);
      if (failed.length) problems.push(`${failed.length} event(s) of ${heldRef} do not verify: ${failed[0][1]}`);
    } catch {
      problems.push(`the shipment view of ${heldRef} did not show its HOLD with every event's verification answered`);
    }
    await page.locator('[data-testid="network-map"]').scrollIntoViewIfNeeded();
  }
  await page.waitForTimeout(1500); // let the last polls render before the screenshot
}

// poll evaluates f in the page until it returns something truthy, across
// reloads, and returns it ('' on timeout).
async function poll(page, f, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const v = await page.evaluate(f);
      if (v) return v;
    } catch { /* the page is reloading */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  return '';
}

main().catch((err) => {
  console.error(`FAIL: ${err.message}`);
  process.exit(1);
});
