// SPDX-License-Identifier: LGPL-2.1-or-later
//
// A grain's whole path in a real browser: playwright-core drives Debian's Chromium against a real
// granaryd --dev (direct backend) on a free loopback port. The admin sets the server up from the link
// that `granary admin-token` prints, installs the example apps by uploading notes.spk through the file
// input and dropping headers.spk on the page (a broken package and a second upload are refused with the
// server's message), removes headers, starts a notes grain, uses the app inside the shell's iframe on its
// own session host (adds a note, sees it listed, greeted by name), renames the grain in place, reads its
// console, which refreshes while it is open, then from the list renames, stops and reopens it (the note
// is still there), deletes it, and removes notes by force while a grain still uses it (deleting it too).
//
// Prints TAP, one line per check, the plan last; exits 0 only when every check passed. Says
// "1..0 # SKIP reason" when Chromium, playwright-core, granary-grain or the packages are missing.
// Expects GRANARYD, GRANARY, SHELL_DIR, GRANARY_GRAIN_PATH and APPS_BUILD_DIR in the environment, as
// tests/browser/meson.build sets them.
import fs from 'node:fs';
import path from 'node:path';

import {
        check, dialogs, expect, expectMatch, fill, newPage, run, shots, skipAll, submit, text, waitForText,
        STEP_TIMEOUT_MS,
} from './lib.mjs';

// The first request to a grain starts its sandbox; that, and the app's start, may take longer than a step.
const GRAIN_TIMEOUT_MS = 20000;
const LOG_REFRESH_MS = 2000;

const appsDir = process.env.APPS_BUILD_DIR;
const notesSpk = appsDir && path.join(appsDir, 'notes', 'notes.spk');
const headersSpk = appsDir && path.join(appsDir, 'headers', 'headers.spk');
if (!process.env.GRANARY_GRAIN_PATH || !fs.existsSync(process.env.GRANARY_GRAIN_PATH))
        skipAll('granary-grain is not built (GRANARY_GRAIN_PATH)');
if (!notesSpk || !fs.existsSync(notesSpk) || !fs.existsSync(headersSpk))
        skipAll(`the example packages are not built (${appsDir}/{notes,headers}/*.spk)`);

let server;

// The row of a table whose header cell says exactly NAME.
function row(page, tbody, name) {
        return page.locator(`${tbody} tr`).filter({ has: page.locator('th', { hasText: new RegExp(`^${name}$`) }) });
}

// What the row's cells say, by their data-label.
async function cells(locator) {
        return locator.locator('td[data-label]').evaluateAll((tds) =>
                Object.fromEntries(tds.map((td) => [td.dataset.label, td.textContent])));
}

// The API's answer to the same request the page makes, from inside the page (its cookie and token).
function pageApi(page, method, apiPath, body) {
        return page.evaluate(async ([m, p, b]) => {
                const session = await (await fetch('/api/v1/session')).json();
                const r = await fetch('/api/v1' + p, {
                        method: m,
                        headers: { 'X-CSRF-Token': session.csrfToken, 'Content-Type': 'application/octet-stream' },
                        body: b,
                });
                return { status: r.status, data: await r.json().catch(() => null) };
        }, [method, apiPath, body]);
}

// Records every text #upload-progress-text shows while a package goes up.
function recordProgress(page) {
        return page.evaluate(() => {
                window.progressTexts = [];
                const node = document.getElementById('upload-progress-text');
                new MutationObserver(() => window.progressTexts.push(node.textContent))
                        .observe(node, { childList: true, characterData: true, subtree: true });
        });
}

async function main(browser) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        const page = await newPage(context, 'desktop');
        shots.page = page;
        const base = server.base;
        const frame = page.frameLocator('#grain-frame');
        let grainUrl = '';

        await check('the admin sets the server up from the admin-token link', async () => {
                await page.goto(server.cli('admin-token'));
                await page.waitForSelector('#setup-form:not([hidden])');
                await fill(page, { '#name': 'admin', '#display-name': 'Ada Admin',
                        '#password': 'admin-password-1', '#password2': 'admin-password-1' });
                await page.click('#setup-form button[type=submit]');
                await page.waitForURL(base + '/');
                await page.waitForSelector('#main:not([hidden])');
        });

        await check('with nothing installed both lists say so', async () => {
                await page.waitForSelector('#apps-empty:not([hidden])');
                await page.waitForSelector('#grains-empty:not([hidden])');
                expect(await page.locator('#upload-form').isVisible(), true, 'the upload form is visible');
                expect(await page.locator('#apps-wrap').isVisible(), false, 'the apps table is visible');
        });

        await check('a broken package is refused with the server\'s own message', async () => {
                const bytes = Buffer.from('this is not a package\n');
                const want = await pageApi(page, 'POST', '/apps', bytes.toString());
                expect(want.status, 400, 'the API answers');
                await page.setInputFiles('#spk-file', { name: 'broken.spk', mimeType: 'application/octet-stream',
                        buffer: bytes });
                const { error, status } = await submit(page, '#upload-form');
                expect(error, want.data.error, 'the error');
                expect(status, '', 'the status');
                expect(await page.locator('#upload-progress').isVisible(), false, 'the progress is visible');
                expect(await page.locator('#apps-empty').isVisible(), true, 'no app is listed');
        });

        await check('uploading notes.spk shows its progress and installs Notes 1.0.0', async () => {
                await recordProgress(page);
                await page.setInputFiles('#spk-file', notesSpk);
                const { error, status } = await submit(page, '#upload-form');
                expect(error, '', 'the error');
                expect(status, 'Installed Notes 1.0.0.', 'the status');
                const shown = await page.evaluate(() => window.progressTexts);
                const size = fs.statSync(notesSpk).size;
                const kib = Math.round(size / 1024);
                expectMatch(shown[0] ?? '', new RegExp(`^Uploading: \\d+% of ${kib} KiB$`), 'the first progress');
                expect(shown.includes('Verifying and unpacking…'), true,
                        `"Verifying and unpacking…" among ${JSON.stringify(shown)}`);
                expect(await page.locator('#upload-progress').isVisible(), false, 'the progress is visible');
                expect((await cells(row(page, '#apps', 'Notes'))).Version, '1.0.0 (1)', 'the version');
                expect(await page.inputValue('#spk-file'), '', 'the file input after success');
        });

        await check('the same package again is refused: installed already', async () => {
                await page.setInputFiles('#spk-file', notesSpk);
                const { error } = await submit(page, '#upload-form');
                expectMatch(error, /installed already/, 'the error');
                expect(await page.locator('#apps tr').count(), 1, 'apps listed');
        });

        await check('dropping headers.spk on the page installs it', async () => {
                const b64 = fs.readFileSync(headersSpk).toString('base64');
                await page.evaluate((data) => {
                        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                        const dt = new DataTransfer();
                        dt.items.add(new File([bytes], 'headers.spk', { type: 'application/octet-stream' }));
                        const zone = document.getElementById('dropzone');
                        for (const type of ['dragenter', 'dragover', 'drop'])
                                zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
                }, b64);
                await waitForText(page, '#upload-form .status', 'Installed Headers 1.0.0.');
                expect(await page.locator('#apps tr').count(), 2, 'apps listed');
        });

        await check('the admin removes Headers after confirming', async () => {
                dialogs.length = 0;
                await row(page, '#apps', 'Headers').locator('button', { hasText: 'Remove' }).click();
                await waitForText(page, '#apps-status', 'Headers is removed.');
                expect(dialogs.join('|'), 'Remove the app Headers? No new grains can be made from it.', 'the question');
                expect(await page.locator('#apps tr').count(), 1, 'apps listed');
        });

        await check('"New grain" asks for a title, "Untitled Notes" by default', async () => {
                await row(page, '#apps', 'Notes').locator('button', { hasText: 'New grain' }).click();
                await page.waitForSelector('#ask-dialog[open]');
                expect(await text(page, '#ask-title'), 'New Notes grain', 'the dialog\'s heading');
                expect(await page.inputValue('#ask-input'), 'Untitled Notes', 'the title offered');
                expect(await page.locator('#ask-choice-field').isVisible(), false, 'the action choice is visible');
        });

        await check('creating the grain opens it in the shell', async () => {
                await page.fill('#ask-input', 'My notes');
                await page.click('#ask-ok');
                await page.waitForURL(/\/grain\?id=[^&]+$/);
                grainUrl = page.url();
                await waitForText(page, '#title-text', 'My notes');
                expect(await page.title(), 'My notes · granary', 'the page title');
        });

        await check('the iframe is on the grain\'s own session host, sandboxed as documented', async () => {
                const iframe = page.locator('#grain-frame');
                const src = await iframe.getAttribute('src');
                const port = new URL(base).port;
                expectMatch(src, new RegExp(`^http://ui-[0-9a-f]{32}\\.granary\\.localhost:${port}` +
                        '/_sandstorm-init\\?sessionid=[0-9a-f]{64}&path=(%2F|/)$'), 'its src');
                expect(await iframe.getAttribute('sandbox'), 'allow-scripts allow-forms allow-same-origin ' +
                        'allow-popups allow-popups-to-escape-sandbox allow-downloads allow-modals', 'its sandbox');
                expect(await iframe.getAttribute('title'), 'My notes', 'its title');
        });

        await check('the notes app shows its page inside the iframe and greets the admin', async () => {
                await frame.locator('h1').waitFor({ timeout: GRAIN_TIMEOUT_MS });
                expect(await frame.locator('h1').innerText(), 'Notes', 'the heading');
                expect(await frame.locator('.greeting').innerText(), 'Hello, Ada Admin', 'the greeting');
                expect(await frame.locator('form textarea[name=text]').count(), 1, 'the note field');
                expect(await frame.locator('body').innerText().then((t) => t.includes('No notes yet.')), true,
                        'it says there are no notes yet');
                await page.waitForSelector('#loading', { state: 'hidden' });
        });

        await check('a note added in the iframe is listed', async () => {
                await frame.locator('textarea[name=text]').fill('Buy flour\nand yeast');
                await frame.locator('button', { hasText: 'Add note' }).click();
                await frame.locator('pre').waitFor({ timeout: GRAIN_TIMEOUT_MS });
                expect(await frame.locator('pre').innerText(), 'Buy flour\nand yeast', 'the note\'s page');
                await frame.locator('a', { hasText: 'All notes' }).click();
                await frame.locator('li').first().waitFor({ timeout: GRAIN_TIMEOUT_MS });
                expect((await frame.locator('li').allInnerTexts()).join('|'), 'Buy flour…', 'the notes listed');
        });

        await check('the title is renamed in place', async () => {
                await page.click('#title-button');
                expect(await page.locator('#rename-input').isVisible(), true, 'the title field is visible');
                expect(await page.inputValue('#rename-input'), 'My notes', 'the title offered');
                await page.fill('#rename-input', 'Shopping <list>');
                await page.press('#rename-input', 'Enter');
                await waitForText(page, '#title-text', 'Shopping <list>');
                expect(await page.locator('#rename-form').isVisible(), false, 'the title field is visible');
                expect(await page.title(), 'Shopping <list> · granary', 'the page title');
                expect(await text(page, '#bar-status'), 'Renamed.', 'the status');
        });

        await check('Escape leaves the title as it was', async () => {
                await page.click('#title-button');
                await page.fill('#rename-input', 'Something else');
                await page.press('#rename-input', 'Escape');
                expect(await page.locator('#rename-form').isVisible(), false, 'the title field is visible');
                expect(await text(page, '#title-text'), 'Shopping <list>', 'the title');
                expect(await page.evaluate(() => document.activeElement.id), 'title-button', 'the focus');
        });

        await check('the console shows the grain\'s log and refreshes every 2 s while open', async () => {
                const logRequests = [];
                const onRequest = (r) => {
                        if (/\/api\/v1\/grains\/[^/]+\/log\?bytes=\d+$/.test(r.url()))
                                logRequests.push(Date.now());
                };
                page.on('request', onRequest);
                try {
                        await page.click('#console-toggle');
                        expect(await page.getAttribute('#console-toggle', 'aria-expanded'), 'true', 'aria-expanded');
                        await page.waitForFunction(() => /notes: listening on 127\.0\.0\.1:\d+/
                                .test(document.getElementById('console-log').textContent), null,
                        { timeout: GRAIN_TIMEOUT_MS });
                        // What the API says the log is, and the console within one refresh.
                        const want = await page.evaluate(async () => (await fetch('/api/v1/grains/' +
                                new URLSearchParams(location.search).get('id') + '/log?bytes=65536')).text());
                        await page.waitForFunction((w) => document.getElementById('console-log').textContent === w,
                                want, { timeout: LOG_REFRESH_MS + 1000 });
                        // From here on only the console asks (the fetch above was the test's own).
                        logRequests.length = 0;
                        const since = Date.now();
                        while (logRequests.length < 2 && Date.now() - since < 2 * LOG_REFRESH_MS + 1000)
                                await page.waitForTimeout(100);
                        expect(logRequests.length >= 2, true, `log requests while open (${logRequests.length})`);
                        const gap = logRequests[1] - logRequests[0];
                        if (gap < LOG_REFRESH_MS - 200 || gap > LOG_REFRESH_MS + 1500)
                                throw new Error(`the console refreshed after ${gap} ms`);
                        await page.click('#console-close');
                        expect(await page.locator('#console').isVisible(), false, 'the console is visible');
                        expect(await page.getAttribute('#console-toggle', 'aria-expanded'), 'false', 'aria-expanded');
                        const count = logRequests.length;
                        await page.waitForTimeout(LOG_REFRESH_MS + 500);
                        expect(logRequests.length, count, 'log requests after closing');
                } finally {
                        page.off('request', onRequest);
                }
        });

        await check('back in the list the grain is running, with its new title', async () => {
                await page.click('a.back');
                await page.waitForURL(base + '/');
                await page.waitForSelector('#grains tr');
                const r = row(page, '#grains', 'Shopping <list>');
                expect(await r.count(), 1, 'rows for the grain');
                const c = await cells(r);
                expect(c.App, 'Notes', 'its app');
                expectMatch(c.State, /^running/, 'its state');
                expect(await r.locator('b, list').count(), 0, 'elements made from the title');
        });

        await check('the grain is renamed from the list', async () => {
                await row(page, '#grains', 'Shopping <list>').locator('button', { hasText: 'Rename' }).click();
                await page.waitForSelector('#ask-dialog[open]');
                expect(await page.inputValue('#ask-input'), 'Shopping <list>', 'the title offered');
                await page.fill('#ask-input', 'Groceries');
                await page.click('#ask-ok');
                await waitForText(page, '#grains-status', 'Renamed to “Groceries”.');
                expect(await row(page, '#grains', 'Groceries').count(), 1, 'rows for the grain');
        });

        await check('the grain is stopped from the list', async () => {
                const r = row(page, '#grains', 'Groceries');
                await r.locator('button', { hasText: 'Stop' }).click();
                await waitForText(page, '#grains-status', '“Groceries” is stopped.');
                // Stopping takes a moment: the list says so until the sandbox has gone.
                for (let i = 0; i < 50; i++) {
                        if ((await cells(row(page, '#grains', 'Groceries'))).State === 'stopped')
                                break;
                        await page.waitForTimeout(200);
                        await page.reload();
                        await page.waitForSelector('#grains tr');
                }
                const c = await cells(row(page, '#grains', 'Groceries'));
                expect(c.State, 'stopped', 'its state');
                expect(await row(page, '#grains', 'Groceries').locator('button', { hasText: 'Stop' }).isDisabled(),
                        true, 'the Stop button is disabled');
        });

        await check('opened again, the grain wakes with its note kept in /var', async () => {
                await row(page, '#grains', 'Groceries').locator('a').click();
                await page.waitForURL(grainUrl);
                await frame.locator('li').first().waitFor({ timeout: GRAIN_TIMEOUT_MS });
                expect((await frame.locator('li').allInnerTexts()).join('|'), 'Buy flour…', 'the notes listed');
                expect(await text(page, '#title-text'), 'Groceries', 'the title');
        });

        await check('the grain is deleted from the list after confirming', async () => {
                await page.goto(base + '/');
                await page.waitForSelector('#grains tr');
                dialogs.length = 0;
                await row(page, '#grains', 'Groceries').locator('button', { hasText: 'Delete' }).click();
                await waitForText(page, '#grains-status', '“Groceries” is deleted.');
                expect(dialogs.join('|'), 'Delete the grain “Groceries” and all its data? This cannot be undone.',
                        'the question');
                await page.waitForSelector('#grains-empty:not([hidden])');
                const gone = await page.evaluate(async (u) => (await fetch('/api/v1/grains/' +
                        new URL(u).searchParams.get('id'))).status, grainUrl);
                expect(gone, 404, 'the API about the deleted grain');
        });

        await check('removing an app a grain uses explains, then removes both', async () => {
                await row(page, '#apps', 'Notes').locator('button', { hasText: 'New grain' }).click();
                await page.waitForSelector('#ask-dialog[open]');
                await page.click('#ask-ok');
                await page.waitForURL(/\/grain\?id=/);
                await waitForText(page, '#title-text', 'Untitled Notes');
                await page.goto(base + '/');
                await page.waitForSelector('#grains tr');
                dialogs.length = 0;
                await row(page, '#apps', 'Notes').locator('button', { hasText: 'Remove' }).click();
                await waitForText(page, '#apps-status', 'Notes is removed, and the grain that used it.');
                expect(dialogs.join('|'), 'Remove the app Notes? No new grains can be made from it.|' +
                        'Grains still use Notes. Remove it anyway? Those grains are deleted too, with all their ' +
                        'data, for every user.', 'the questions');
                await page.waitForSelector('#apps-empty:not([hidden])');
                await page.waitForSelector('#grains-empty:not([hidden])');
        });

        await check('a grain page for no grain says so', async () => {
                await page.goto(base + '/grain?id=nosuchgrain');
                await page.waitForFunction(() => document.getElementById('page-error').textContent !== '');
                const want = await page.evaluate(async () => {
                        const r = await fetch('/api/v1/grains/nosuchgrain');
                        return [r.status, (await r.json()).error];
                });
                expect(want[0], 404, 'the API answers');
                expect(await text(page, '#page-error'), want[1], 'the page says');
                expect(await page.locator('#grain-frame').count(), 0, 'iframes');
                expect(await page.locator('#loading').isVisible(), false, 'the loading note is visible');
        });

        shots.page = null;
        await context.close();
}

// The refusals the checks provoke (400, 404, 409) are 4xx answers Chromium logs for every fetch.
run({ env: ['GRANARY_GRAIN_PATH', 'APPS_BUILD_DIR'],
        serverEnv: { GRANARY_GRAIN_PATH: process.env.GRANARY_GRAIN_PATH },
        expectedProblems: /Failed to load resource: the server responded with a status of 4/ },
async (browser, s) => {
        server = s;
        await main(browser);
});
