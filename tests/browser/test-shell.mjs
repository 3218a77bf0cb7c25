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
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const STEP_TIMEOUT_MS = 5000;
const RUN_TIMEOUT_MS = 240000;
const TOTP_PERIOD_MS = 30000;

// ---- TAP ----

let tapN = 0;
let tapFailed = 0;

function diag(text) {
        for (const line of String(text).split('\n'))
                console.log('# ' + line);
}

function pass(name) {
        console.log(`ok ${++tapN} - ${name}`);
}

function fail(name, why) {
        tapFailed++;
        console.log(`not ok ${++tapN} - ${name}`);
        if (why)
                diag(why);
}

function skipAll(reason) {
        console.log(`1..0 # SKIP ${reason}`);
        process.exit(0);
}

function bailOut(reason) {
        console.log(`Bail out! ${reason}`);
        process.exit(1);
}

// expect(got, want, what): throws unless got is want, naming both.
function expect(got, want, what = 'value') {
        if (got !== want)
                throw new Error(`${what}:\ngot:    ${JSON.stringify(got)}\nwanted: ${JSON.stringify(want)}`);
}

function expectMatch(got, regex, what = 'value') {
        if (typeof got !== 'string' || !regex.test(got))
                throw new Error(`${what}:\ngot:    ${JSON.stringify(got)}\nwanted: ${regex}`);
}

// ---- the environment ----

function which(name) {
        for (const dir of (process.env.PATH || '').split(':')) {
                const file = path.join(dir || '.', name);
                try {
                        fs.accessSync(file, fs.constants.X_OK);
                        return file;
                } catch {
                        // not in this directory
                }
        }
        return null;
}

function findChromium() {
        if (process.env.CHROMIUM)
                return fs.existsSync(process.env.CHROMIUM) ? process.env.CHROMIUM : null;
        return which('chromium') || which('chromium-browser');
}

async function loadPlaywright() {
        try {
                return (await import('playwright-core')).chromium;
        } catch {
                return null;
        }
}

// freePort(): a TCP port on 127.0.0.1 that nobody listens on at this moment.
function freePort() {
        return new Promise((resolve, reject) => {
                const server = net.createServer();
                server.on('error', reject);
                server.listen(0, '127.0.0.1', () => {
                        const { port } = server.address();
                        server.close(() => resolve(port));
                });
        });
}

function portOpen(port) {
        return new Promise((resolve) => {
                const socket = net.connect({ host: '127.0.0.1', port });
                socket.setTimeout(1000);
                socket.on('connect', () => { socket.destroy(); resolve(true); });
                socket.on('error', () => resolve(false));
                socket.on('timeout', () => { socket.destroy(); resolve(false); });
        });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- granaryd ----

// A granaryd --dev with its own state directory, its output in LOG.
class Server {
        constructor(tmp, port) {
                this.state = path.join(tmp, 'state');
                this.log = path.join(tmp, 'granaryd.log');
                this.port = port;
                this.base = `http://granary.localhost:${port}`;
                this.exit = null;
        }

        // Resolves once the control socket exists and the port accepts connections; throws with the log
        // when that does not happen within 30 s.
        async start() {
                const out = fs.openSync(this.log, 'w');
                const args = ['--dev', this.state, '--port', String(this.port),
                        '--shell-dir', process.env.SHELL_DIR];
                this.child = spawn(process.env.GRANARYD, args, { stdio: ['ignore', out, out] });
                fs.closeSync(out);
                this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => {
                        this.exit = signal ? `signal ${signal}` : `status ${code}`;
                        resolve();
                }));
                const socket = path.join(this.state, 'control.sock');
                for (let i = 0; i < 300 && this.exit === null; i++) {
                        if (fs.existsSync(socket) && (await portOpen(this.port)))
                                return;
                        await sleep(100);
                }
                throw new Error(`granaryd did not come up (${this.exit ?? 'still running'}); its log:\n` +
                        fs.readFileSync(this.log, 'utf8'));
        }

        // SIGTERM, then SIGKILL after 10 s; resolves to how it ended ("status 0", "signal SIGKILL", …).
        async stop() {
                if (!this.child || this.exit !== null)
                        return this.exit;
                this.child.kill('SIGTERM');
                const timer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
                await this.exited;
                clearTimeout(timer);
                return this.exit;
        }

        // The granary CLI pointed at this server; its stdout, trimmed.
        cli(...args) {
                return execFileSync(process.env.GRANARY, ['--dev', this.state, ...args],
                        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
        }
}

// ---- the page ----

// Everything a page logs as an error or warning, and every uncaught exception; CSP violations are
// console errors ("Refused to …").
const problems = [];

function watch(page, label) {
        page.on('console', (m) => {
                if (m.type() === 'error' || m.type() === 'warning')
                        problems.push(`${label}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`${label}: uncaught ${e.message}`));
}

// Confirmation dialogs are accepted; their questions are kept for the checks.
const dialogs = [];

async function newPage(context, label) {
        const page = await context.newPage();
        watch(page, label);
        page.on('dialog', (d) => {
                dialogs.push(d.message());
                d.accept();
        });
        return page;
}

const text = (page, selector) => page.locator(selector).innerText();
const activeId = (page) => page.evaluate(() => document.activeElement?.id ?? '');

// fill(page, {selector: value, …})
async function fill(page, fields) {
        for (const [selector, value] of Object.entries(fields))
                await page.fill(selector, value);
}

// submit(page, form): clicks the form's submit button and waits until the form has answered (see
// handleForm in src/shell/js/api.js); returns what its .error and .status paragraphs say.
async function submit(page, form) {
        await page.click(`${form} button[type=submit]`);
        await page.waitForFunction((f) => !document.querySelector(f).hasAttribute('aria-busy'), form);
        const read = async (which) => {
                const p = page.locator(`${form} .${which}`);
                return (await p.count()) ? p.innerText() : '';
        };
        return { error: await read('error'), status: await read('status') };
}

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

// waitForText(page, selector, want): until the element says exactly WANT.
function waitForText(page, selector, want) {
        return page.waitForFunction(([sel, w]) => document.querySelector(sel).textContent === w,
                [selector, want]);
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

let tmp;
let server;
let shotPage = null;

// check(name, action): one TAP line. A check fails when action throws; a screenshot of the page it
// was on is then kept beside the server's log.
async function check(name, action) {
        try {
                await action();
                pass(name);
        } catch (e) {
                let why = e.message;
                if (shotPage) {
                        const shot = path.join(tmp, `failed-${tapN + 1}.png`);
                        try {
                                await shotPage.screenshot({ path: shot, fullPage: true });
                                why += `\nscreenshot: ${shot}`;
                        } catch {
                                // a page that cannot be drawn says enough in the message
                        }
                }
                fail(name, why);
        }
}

async function main() {
        for (const name of ['GRANARYD', 'GRANARY', 'SHELL_DIR'])
                if (!process.env[name])
                        bailOut(`${name} is not set (meson test sets it; see tests/browser/meson.build)`);
        const executablePath = findChromium();
        if (!executablePath)
                skipAll('chromium not found (apt-get install chromium, or set CHROMIUM)');
        const chromium = await loadPlaywright();
        if (!chromium)
                skipAll('playwright-core is not installed (npm ci in tests/browser)');

        tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'granary-browser.'));
        const watchdog = setTimeout(async () => {
                await server?.stop();
                bailOut(`the browser test ran over ${RUN_TIMEOUT_MS / 1000} s; kept ${tmp}`);
        }, RUN_TIMEOUT_MS);

        server = new Server(tmp, await freePort());
        try {
                await server.start();
                pass('granaryd --dev comes up on a free loopback port');
        } catch (e) {
                fail('granaryd --dev comes up on a free loopback port', e.message);
                console.log(`1..${tapN}`);
                diag(`kept ${tmp}`);
                process.exit(1);
        }

        let browser = null;
        try {
                // Chromium refuses to run as root with its own sandbox on.
                browser = await chromium.launch({
                        executablePath,
                        args: ['--no-proxy-server', ...(process.getuid?.() === 0 ? ['--no-sandbox'] : [])],
                        timeout: 30000,
                });
                pass('Chromium starts');
                diag(`Chromium ${browser.version()}`);
        } catch (e) {
                fail('Chromium starts', e.message);
        }
        if (browser) {
                await desktop(browser);
                await phone(browser);
                await check('no page logs an error or a Content-Security-Policy violation', () => {
                        // The API's refusals (wrong password, taken name, rate limit) are 4xx answers
                        // that Chromium logs for every fetch; they are what the checks above expect.
                        const expected = /Failed to load resource: the server responded with a status of 4/;
                        const real = problems.filter((p) => !expected.test(p));
                        if (real.length)
                                throw new Error(real.join('\n'));
                });
                await browser.close();
        }

        const exit = await server.stop();
        await check('granaryd stops cleanly on SIGTERM after the session', () => {
                expect(exit, 'status 0', 'granaryd ended with');
        });
        clearTimeout(watchdog);

        console.log(`1..${tapN}`);
        if (tapFailed || process.env.KEEP_TMP)
                diag(`kept ${tmp}`);
        else
                fs.rmSync(tmp, { recursive: true, force: true });
        process.exit(tapFailed ? 1 : 0);
}

// ---- what a person does on a desktop ----

async function desktop(browser) {
        const base = server.base;
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        const page = await newPage(context, 'desktop');
        shotPage = page;
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

        shotPage = null;
        await context.close();
}

// ---- on a phone, in dark mode ----

async function phone(browser) {
        const context = await browser.newContext({ viewport: { width: 375, height: 740 }, colorScheme: 'dark',
                isMobile: true, hasTouch: true });
        context.setDefaultTimeout(STEP_TIMEOUT_MS);
        const page = await newPage(context, 'phone');
        shotPage = page;

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

        shotPage = null;
        await context.close();
}

process.on('exit', () => {
        if (server?.child && server.exit === null)
                server.child.kill('SIGKILL');
});

main().catch(async (e) => {
        fail('the browser test runs to its end', e.stack || e.message);
        await server?.stop();
        console.log(`1..${tapN}`);
        process.exit(1);
});
