// The guided lessons as a learner meets them: text beside the simulator, back and next, a
// prediction judged right or wrong and then shown, and progress kept in the address bar.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, openPage, screenshot } from '../lib/browser.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });

const progress = (page) => page.getByTestId('lesson-progress').textContent();

test('the AKS lesson: ten steps, a wrong and a right prediction, the story over IPv6, progress in the URL', async () => {
  const { context, page, problems } = await openPage(browser);
  try {
    await page.getByTestId('lesson-pick').selectOption('aks');
    assert.match(await progress(page), /step 1 of 10$/);
    assert.ok(await page.getByTestId('lesson-back').isDisabled());

    await page.getByTestId('lesson-next').click();
    assert.match(await progress(page), /step 2 of 10$/);
    assert.equal(await page.getByTestId('verdict').count(), 0, 'no verdict before an answer');
    await page.getByTestId('choice-0').click(); // "the laptop's address": wrong under Cluster
    assert.match(await page.getByTestId('verdict').textContent(), /Not quite: the answer is “a private address from inside the cluster”/);
    assert.match(await page.getByTestId('why').textContent(), /KUBE-MARK-MASQ/);
    assert.match(await page.getByTestId('app-output').textContent(), /^::ffff:(10\.244\.0\.1|10\.240\.0\.\d+)$/, 'the reveal shows it');
    assert.ok(await page.getByTestId('choice-1').isDisabled(), 'one answer per question');
    await screenshot(page, 'lesson-aks-wrong');

    for (const n of [3, 4, 5]) {
      await page.getByTestId('lesson-next').click();
      assert.match(await progress(page), new RegExp(`step ${n} of 10$`));
    }
    await page.getByTestId('choice-0').click(); // Local: the laptop's address, right
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    assert.equal(await page.getByTestId('app-output').textContent(), '::ffff:198.51.100.79');

    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-1').click(); // 50 %
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    assert.equal(await page.getByTestId('probe-percent').textContent(), '50%');
    assert.equal(await page.getByTestId('in-rotation').textContent(), '1/2');
    await screenshot(page, 'lesson-aks-probes');

    await page.getByTestId('lesson-next').click();
    await page.getByTestId('lesson-next').click();
    assert.match(await progress(page), /step 8 of 10$/);
    // Over IPv6 under Cluster: Azure's link-local probe fails on the pod's own node, so the
    // requests all go through node-1 and the pod sees node-1's IPv6 address.
    await page.getByTestId('choice-1').click();
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    assert.equal(await page.getByTestId('app-output').textContent(), '2001:1234:5678:9abc::5');
    assert.equal(await page.getByTestId('in-rotation').textContent(), '1/2');
    assert.match(await page.getByTestId('why').textContent(), /fe80::1234:5678:9abc/);
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-1').click(); // Local over IPv6: the laptop's own IPv6 address
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    assert.equal(await page.getByTestId('app-output').textContent(), '2001:db8::79');
    await screenshot(page, 'lesson-aks-ipv6');
    await page.getByTestId('lesson-next').click();
    assert.match(await progress(page), /step 10 of 10$/);
    assert.ok(await page.getByTestId('lesson-next').isDisabled());
    assert.match(page.url(), /#lesson=aks&step=10$/, 'progress is in the address bar');

    const again = await openPage(browser, { path: '#lesson=aks&step=6' });
    try {
      assert.match(await again.page.getByTestId('lesson-progress').textContent(), /step 6 of 10$/);
      assert.deepEqual(again.problems, []);
    } finally {
      await again.context.close();
    }
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the Using Source IP lesson steps through every case', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#lesson=source-ip' });
  try {
    const expected = [
      ['choice-0', () => page.getByTestId('app-output').textContent(), 'client_address=10.180.3.8'],
      ['choice-1', null, null],
      ['choice-1', () => page.getByTestId('app-output').textContent(), 'client_address=198.51.100.79'],
      [null, null, null],
      ['choice-0', () => page.getByTestId('app-output').textContent(), 'client_address=198.51.100.79'],
    ];
    for (const [i, [choice, read, want]] of expected.entries()) {
      assert.match(await progress(page), new RegExp(`step ${i + 1} of 5$`));
      if (choice) {
        await page.getByTestId(choice).click();
        assert.match(await page.getByTestId('verdict').textContent(), /Right/, `step ${i + 1}`);
        if (read) assert.equal(await read(), want, `step ${i + 1} shows it`);
      }
      if (i < expected.length - 1) await page.getByTestId('lesson-next').click();
    }
    assert.equal(await page.getByTestId('in-rotation').textContent(), '1/3');
    await screenshot(page, 'lesson-source-ip-last');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the nftables lesson: the same answers, then the 127.0.0.1 NodePort refused once the mode switches', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#lesson=nftables' });
  try {
    assert.match(await progress(page), /step 1 of 5$/);
    assert.match(await page.getByTestId('node-0').textContent(), /kube-proxy\s*nftables/, 'the node boxes name the mode');
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-1').click();
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    assert.match(await page.getByTestId('app-output').textContent(), /^::ffff:(10\.244\.0\.1|10\.240\.0\.\d+)$/);
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-1').click();
    assert.equal(await page.getByTestId('probe-percent').textContent(), '50%');
    await page.getByTestId('lesson-next').click();
    // Step 4 starts in iptables mode, where both curls are answered.
    assert.equal(await page.getByLabel('Dataplane').inputValue(), 'iptables');
    assert.doesNotMatch(await page.getByTestId('event-log').textContent(), /refused/);
    await page.getByTestId('choice-0').click();
    assert.match(await page.getByTestId('verdict').textContent(), /Not quite/);
    assert.equal(await page.getByLabel('Dataplane').inputValue(), 'nftables', 'the reveal switches the mode');
    assert.match(await page.getByTestId('event-log').textContent(), /connection refused: nothing listens on 127\.0\.0\.1:30080/);
    await screenshot(page, 'lesson-nftables-localhost');
    assert.match(page.url(), /#lesson=nftables&step=4$/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test('the DSR lesson: Cilium keeps the client IP on the pod\'s node, SNATs through the other, and DSR keeps it everywhere', async () => {
  const { context, page, problems } = await openPage(browser, { path: '#lesson=dsr' });
  try {
    assert.match(await progress(page), /step 1 of 6$/);
    assert.match(await page.getByTestId('node-0').textContent(), /cilium eBPF\s*snat/);
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-1').click();
    assert.match(await page.getByTestId('verdict').textContent(), /Right/);
    assert.equal(await page.getByTestId('app-output').textContent(), '::ffff:198.51.100.79');
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-0').click();
    assert.match(await page.getByTestId('verdict').textContent(), /Not quite/);
    assert.equal(await page.getByTestId('app-output').textContent(), '::ffff:10.240.0.5');
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-1').click();
    assert.match(await page.getByTestId('node-1').textContent(), /cilium eBPF\s*dsr/);
    assert.equal(await page.getByTestId('app-output').textContent(), '::ffff:198.51.100.79');
    await screenshot(page, 'lesson-dsr-reply');
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('choice-0').click();
    assert.equal(await page.getByTestId('probe-percent').textContent(), '100%');
    await page.getByTestId('lesson-next').click();
    await page.getByTestId('compare').waitFor();
    assert.match(page.url(), /#lesson=dsr&step=6$/);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

