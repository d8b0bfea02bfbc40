// Accessibility as a screen-reader or keyboard user meets it: an axe-core scan (WCAG 2.x A and AA
// rules) of the full simulator in both colour schemes, with the inspector, the YAML editor and the
// share panel open; of a lesson with its quiz answered; of the compare view; and of the embed,
// finds no serious or critical violations.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { launch, openPage, screenshot } from '../lib/browser.mjs';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

/** Serious and critical violations, one line each: rule, impact, and the first offending nodes. */
async function scan(page) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } }),
  );
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`);
}

for (const scheme of ['light', 'dark']) {
  test(`the full simulator, ${scheme}: no serious or critical axe violations`, async () => {
    const { context, page, problems } = await openPage(browser, { path: '#preset=aks-blog&ch=20s:etp:Local&t=75s' });
    try {
      await page.emulateMedia({ colorScheme: scheme });
      await page.getByTestId('event-log').locator('button.log-row').filter({ hasText: 'DNAT' }).first().click();
      await page.getByRole('button', { name: 'Edit the YAML' }).click();
      await page.getByTestId('share').click();
      await page.getByTestId('share-panel').waitFor();
      assert.deepEqual(await scan(page), []);
      await screenshot(page, `a11y-full-${scheme}`);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
}

test('a lesson step with its quiz answered, and the compare view: no serious or critical axe violations', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#lesson=aks&step=6' });
  try {
    await page.getByTestId('choice-0').click();
    await page.getByTestId('verdict').waitFor();
    assert.deepEqual(await scan(page), []);
    await page.getByTestId('lesson-back').click();
    await page.getByTestId('compare-toggle').click();
    await page.getByTestId('compare-table').waitFor();
    assert.deepEqual(await scan(page), []);
    await screenshot(page, 'a11y-lesson-compare');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the embed: no serious or critical axe violations', async () => {
  const { context, page, problems } = await openPage(browser, { path: '?embed=1#preset=aks-blog&etp=Local&t=30s', viewport: { width: 700, height: 450 } });
  try {
    assert.deepEqual(await scan(page), []);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
