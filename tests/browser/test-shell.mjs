// SPDX-License-Identifier: LGPL-2.1-or-later
//
// The web shell in a real browser: playwright-core drives Debian's Chromium through what a person does
// against a real granaryd --dev on a free loopback port: set the server up from the link that
// `granary admin-token` prints, manage users, turn two-factor sign-in on and off, sign in with a code,
// change the password, hit the sign-in rate limit, and use the shell on a phone in dark mode, all
// without a script error or a Content-Security-Policy violation.
//
// Prints TAP, one line per check, the plan last; exits 0 only when every check passed. Says
// "1..0 # SKIP reason" when Chromium or playwright-core is missing. Expects GRANARYD, GRANARY and
// SHELL_DIR in the environment, as tests/browser/meson.build sets them; CHROMIUM names the browser
// (default: chromium on PATH). Everything it writes, screenshots of failed checks included, goes to
// one temporary directory, removed at the end unless a check failed or KEEP_TMP is set.
import crypto from 'node:crypto';

import {
        activeId, check, dialogs, expect, expectMatch, fill, newPage, run, shots, sleep, submit, text,
        waitForText, STEP_TIMEOUT_MS,
} from './lib.mjs';

const TOTP_PERIOD_MS = 30000;

// ---- the page ----

// The row of the users table for the user NAME (whose own row also says "you").
function userRow(page, name) {
        const th = page.locator('th', { hasText: new RegExp(`^${name}\\s*(you)?$`) });
        return page.locator('#users tr').filter({ has: th });
}

// What the users table says about NAME in COLUMN.
const USER_COLUMNS = ['Display name', 'Admin', 'Two-factor'];
async function userCell(page, name, column) {
        return (await userRow(page, name).locator('td').allInnerTexts())[USER_COLUMNS.indexOf(column)];
}

// ---- TOTP (RFC 6238: SHA-1, 6 digits, 30 s) ----

function base32Decode(s) {
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
        let bits = '';
        for (const c of s.toUpperCase().replace(/[\s=]/g, ''))
                bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
        return Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
}

const totpStep = () => Math.floor(Date.now() / TOTP_PERIOD_MS);

function totp(secret, step = totpStep()) {
        const counter = Buffer.alloc(8);
        counter.writeBigUInt64BE(BigInt(step));
        const h = crypto.createHmac('sha1', base32Decode(secret)).update(counter).digest();
        const o = h[19] & 15;
        return String((h.readUInt32BE(o) & 0x7fffffff) % 1000000).padStart(6, '0');
}

// ---- running the checks ----

let server;

// The API's refusals (wrong password, taken name, rate limit) are 4xx answers that Chromium logs for
// every fetch; they are what the checks expect.
run({ expectedProblems: /Failed to load resource: the server responded with a status of 4/ },
        async (browser, s) => {
                server = s;
                await desktop(browser);
                await phone(browser);
        });

// ---- what a person does on a desktop ----

async function desktop(browser) {
        const base = server.base;
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        const page = await newPage(context, 'desktop');
        shots.page = page;
        let secret = '';
        let lastCodeStep = -1;

        await check('before setup a visitor to / is sent to sign in, which points to setup', async () => {
                await page.goto(base + '/');
                await page.waitForURL(base + '/login');
                await page.waitForSelector('#setup-note:not([hidden])');
        });

        await check('the setup page without a token says how to get the link', async () => {
                await page.goto(base + '/setup');
                await page.waitForSelector('#no-token:not([hidden])');
                expectMatch(await text(page, '#no-token'), /granary admin-token/, 'the note');
        });

        await check('setting up with a wrong token says to run granary admin-token', async () => {
                await page.goto(base + '/setup?token=wrong');
                await fill(page, { '#name': 'admin', '#display-name': 'The Admin',
                        '#password': 'admin-password-1', '#password2': 'admin-password-1' });
                const { error } = await submit(page, '#setup-form');
                expectMatch(error, /granary admin-token/, 'the error');
        });

        await check('the link from granary admin-token opens the setup form', async () => {
                const link = server.cli('admin-token');
                const want = new RegExp(`^${base}/setup\\?token=[A-Za-z0-9_-]{20,}$`);
                expectMatch(link, want, 'what granary admin-token prints');
                await page.goto(link);
                await page.waitForSelector('#setup-form:not([hidden])');
        });

        await check('two different passwords at setup focus the repeat field', async () => {
                await fill(page, { '#name': 'admin', '#display-name': 'The Admin',
                        '#password': 'admin-password-1', '#password2': 'admin-password-2' });
                const { error } = await submit(page, '#setup-form');
                expect(error, 'The two passwords are not the same.', 'the error');
                expect(await activeId(page), 'password2', 'the focused field');
        });

        await check('setting the server up signs the admin in on the home page', async () => {
                await page.fill('#password2', 'admin-password-1');
                await page.click('#setup-form button[type=submit]');
                await page.waitForURL(base + '/');
                await page.waitForSelector('#users tr');
                expect(await text(page, '#who-name'), 'Signed in as The Admin (admin)', 'the header');
                expect(await page.locator('#admin').isVisible(), true, 'the admin section is visible');
                expect(await page.locator('#users tr').count(), 1, 'users listed');
        });

        await check('the admin adds a user', async () => {
                await fill(page, { '#new-name': 'bob', '#new-display-name': 'Bob <b>Builder</b>',
                        '#new-user-password': 'bob-password-1' });
                const { status, error } = await submit(page, '#add-user-form');
                expect(error, '', 'the error');
                expect(status, 'Added bob.', 'the status');
                expect(await page.locator('#users tr').count(), 2, 'users listed');
        });

        await check('a display name with markup shows as text', async () => {
                expect(await userCell(page, 'bob', 'Display name'), 'Bob <b>Builder</b>', 'the display name');
                expect(await userRow(page, 'bob').locator('b').count(), 0, 'elements made from the name');
        });

        await check('adding a name that is taken focuses the name field', async () => {
                await fill(page, { '#new-name': 'bob', '#new-user-password': 'bob-password-1' });
                const { error } = await submit(page, '#add-user-form');
                expect(error, 'That name is taken.', 'the error');
                expect(await activeId(page), 'new-name', 'the focused field');
                expect(await page.locator('#users tr').count(), 2, 'users listed');
        });

        await check('the admin makes bob an admin', async () => {
                await userRow(page, 'bob').locator('button', { hasText: 'Make admin' }).click();
                await waitForText(page, '#users-status', 'bob is now an admin.');
                expect(await userCell(page, 'bob', 'Admin'), 'yes', 'the admin cell');
        });

        await check('the admin cannot delete their own account', async () => {
                const own = userRow(page, 'admin').locator('button', { hasText: 'Delete' });
                expect(await own.isDisabled(), true, 'their own Delete button is disabled');
                expect(await own.getAttribute('title'), 'You cannot delete your own account.', 'its title');
        });

        await check('the admin deletes bob after confirming', async () => {
                dialogs.length = 0;
                await userRow(page, 'bob').locator('button', { hasText: 'Delete' }).click();
                await waitForText(page, '#users-status', 'bob is deleted.');
                expect(dialogs.join('|'), 'Delete the account bob? This cannot be undone.', 'the question');
                expect(await page.locator('#users tr').count(), 1, 'users listed');
        });

        await check('starting two-factor sign-in shows a secret and an otpauth link', async () => {
                await page.click('#totp-start-form button[type=submit]');
                await page.waitForSelector('#totp-enable-form:not([hidden])');
                secret = (await text(page, '#totp-secret')).replace(/\s/g, '');
                expectMatch(secret, /^[A-Z2-7]{16,}$/, 'the secret');
                expectMatch(await page.getAttribute('#totp-link', 'href'),
                        new RegExp(`^otpauth://totp/.*[?&]secret=${secret}(&|$)`), 'the link');
        });

        await check('a wrong code does not turn two-factor sign-in on', async () => {
                const wrong = totp(secret) === '000000' ? '111111' : '000000';
                await page.fill('#totp-code', wrong);
                const { error } = await submit(page, '#totp-enable-form');
                expect(error, 'Wrong code.', 'the error');
                expect(await page.locator('#totp-on').isVisible(), false, 'two-factor shows as on');
        });

        await check('the code from the app turns two-factor sign-in on', async () => {
                lastCodeStep = totpStep();
                await page.fill('#totp-code', totp(secret, lastCodeStep));
                await page.click('#totp-enable-form button[type=submit]');
                await page.waitForSelector('#totp-on:not([hidden])');
                expect(await text(page, '#totp-status'), 'Two-factor sign-in is on.', 'the status');
        });

        await check('after a reload the users table says two-factor is on for the admin', async () => {
                await page.reload();
                await page.waitForSelector('#users tr');
                expect(await userCell(page, 'admin', 'Two-factor'), 'on', 'the two-factor cell');
                expect(await page.locator('#totp-on').isVisible(), true, 'the account says two-factor is on');
        });

        await check('the user changes their display name', async () => {
                await page.fill('#display-name', 'Boss');
                const { status, error } = await submit(page, '#display-form');
                expect(error, '', 'the error');
                expect(status, 'Saved.', 'the status');
                expect(await text(page, '#who-name'), 'Signed in as Boss (admin)', 'the header');
        });

        await check('signing out leads to the sign-in page, without the setup note now', async () => {
                await page.click('#logout');
                await page.waitForURL(base + '/login');
                await page.waitForSelector('#login-form');
                expect(await page.locator('#setup-note').isVisible(), false, 'the setup note is visible');
        });

        await check('a wrong password focuses the password field', async () => {
                await fill(page, { '#name': 'admin', '#password': 'nope-nope-nope' });
                const { error } = await submit(page, '#login-form');
                expect(error, 'Wrong name or password.', 'the error');
                expect(await activeId(page), 'password', 'the focused field');
        });

        await check('the right password asks for the two-factor code', async () => {
                await page.fill('#password', 'admin-password-1');
                const { error } = await submit(page, '#login-form');
                expect(error, 'This account also needs a code from its authenticator app.', 'the message');
                expect(await page.locator('#totp-field').isVisible(), true, 'the code field is visible');
                expect(await activeId(page), 'totp', 'the focused field');
        });

        await check('a fresh code signs in', async () => {
                // A code counts once: the one that turned two-factor on cannot sign in.
                while (totpStep() <= lastCodeStep)
                        await sleep(250);
                lastCodeStep = totpStep();
                await page.fill('#totp', totp(secret, lastCodeStep));
                await page.click('#login-form button[type=submit]');
                await page.waitForURL(base + '/');
                await page.waitForSelector('#main:not([hidden])');
                expect(await text(page, '#who-name'), 'Signed in as Boss (admin)', 'the header');
        });

        await check('a wrong current password focuses that field', async () => {
                await fill(page, { '#current-password': 'wrong-password',
                        '#new-password': 'admin-password-9', '#new-password2': 'admin-password-9' });
                const { error, status } = await submit(page, '#password-form');
                expect(error, 'Wrong current password.', 'the error');
                expect(status, '', 'the status');
                expect(await activeId(page), 'current-password', 'the focused field');
        });

        await check('two different new passwords focus the repeat field', async () => {
                await fill(page, { '#current-password': 'admin-password-1',
                        '#new-password': 'admin-password-9', '#new-password2': 'admin-password-8' });
                const { error } = await submit(page, '#password-form');
                expect(error, 'The two new passwords are not the same.', 'the error');
                expect(await activeId(page), 'new-password2', 'the focused field');
        });

        await check('the user changes their password', async () => {
                await fill(page, { '#current-password': 'admin-password-1',
                        '#new-password': 'admin-password-9', '#new-password2': 'admin-password-9' });
                const { error, status } = await submit(page, '#password-form');
                expect(error, '', 'the error');
                expect(status, 'Your password is changed.', 'the status');
        });

        await check('the session goes on after the password change', async () => {
                await page.fill('#display-name', 'Chief');
                const { status, error } = await submit(page, '#display-form');
                expect(error, '', 'the error');
                expect(status, 'Saved.', 'the status');
                expect(await text(page, '#who-name'), 'Signed in as Chief (admin)', 'the header');
        });

        await check('the new password turns two-factor sign-in off', async () => {
                await page.fill('#totp-password', 'admin-password-9');
                await page.click('#totp-disable-form button[type=submit]');
                await page.waitForSelector('#totp-off:not([hidden])');
                expect(await text(page, '#totp-status'), 'Two-factor sign-in is off.', 'the status');
        });

        await check('after too many failed sign-ins the page says when to try again', async () => {
                await page.click('#logout');
                await page.waitForURL(base + '/login');
                let error = '';
                for (let i = 0; i < 10 && !error.startsWith('Too many'); i++) {
                        await fill(page, { '#name': 'ghost', '#password': `whatever-${i}` });
                        ({ error } = await submit(page, '#login-form'));
                }
                expectMatch(error, /^Too many failed attempts\. Try again in (a minute|\d+ minutes)\.$/,
                        'the error');
        });

        shots.page = null;
        await context.close();
}

// ---- on a phone, in dark mode ----

async function phone(browser) {
        const context = await browser.newContext({ viewport: { width: 375, height: 740 }, colorScheme: 'dark',
                isMobile: true, hasTouch: true });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        const page = await newPage(context, 'phone');
        shots.page = page;

        await check('on a phone the admin signs in with the new password', async () => {
                await page.goto(server.base + '/login');
                await fill(page, { '#name': 'admin', '#password': 'admin-password-9' });
                await page.click('#login-form button[type=submit]');
                await page.waitForURL(server.base + '/');
                await page.waitForSelector('#users tr');
        });

        await check('on a phone the home page fits 375 px without scrolling sideways', async () => {
                const width = await page.evaluate(() => document.documentElement.scrollWidth);
                if (width > 375)
                        throw new Error(`the page is ${width} px wide`);
        });

        await check('in dark mode the page is dark with light text', async () => {
                const [bg, fg] = await page.evaluate(() => {
                        const style = getComputedStyle(document.body);
                        return [style.backgroundColor, style.color];
                });
                const luminance = (rgb) => {
                        const [r, g, b] = rgb.match(/\d+/g).map(Number);
                        return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
                };
                if (!(luminance(bg) < 0.25 && luminance(fg) > 0.6))
                        throw new Error(`background ${bg}, text ${fg}`);
        });

        shots.page = null;
        await context.close();
}
