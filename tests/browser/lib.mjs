// SPDX-License-Identifier: LGPL-2.1-or-later
//
// What the browser tests share: TAP output, a granaryd --dev on a free loopback port with its own state
// directory, Chromium through playwright-core, pages that record every console error and CSP violation,
// and run(), which sets all of that up, runs a test's checks and ends with the checks every test makes
// (no page error, granaryd stops cleanly) and the TAP plan.
//
// Everything a test writes, screenshots of failed checks included, goes to one temporary directory,
// removed at the end unless a check failed or KEEP_TMP is set. CHROMIUM names the browser (default:
// chromium on PATH).
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const STEP_TIMEOUT_MS = 5000;
const RUN_TIMEOUT_MS = 240000;

// ---- TAP ----

let tapN = 0;
let tapFailed = 0;

export function diag(text) {
        for (const line of String(text).split('\n'))
                console.log('# ' + line);
}

export function pass(name) {
        console.log(`ok ${++tapN} - ${name}`);
}

export function fail(name, why) {
        tapFailed++;
        console.log(`not ok ${++tapN} - ${name}`);
        if (why)
                diag(why);
}

export function skipAll(reason) {
        console.log(`1..0 # SKIP ${reason}`);
        process.exit(0);
}

export function bailOut(reason) {
        console.log(`Bail out! ${reason}`);
        process.exit(1);
}

// expect(got, want, what): throws unless got is want, naming both.
export function expect(got, want, what = 'value') {
        if (got !== want)
                throw new Error(`${what}:\ngot:    ${JSON.stringify(got)}\nwanted: ${JSON.stringify(want)}`);
}

export function expectMatch(got, regex, what = 'value') {
        if (typeof got !== 'string' || !regex.test(got))
                throw new Error(`${what}:\ngot:    ${JSON.stringify(got)}\nwanted: ${regex}`);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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

// ---- granaryd ----

// A granaryd --dev with its own state directory, its output in LOG; ENV is added to its environment.
export class Server {
        constructor(tmp, port, env = {}) {
                this.state = path.join(tmp, 'state');
                this.log = path.join(tmp, 'granaryd.log');
                this.port = port;
                this.env = env;
                this.base = `http://granary.localhost:${port}`;
                this.exit = null;
        }

        // Resolves once the control socket exists and the port accepts connections; throws with the log
        // when that does not happen within 30 s.
        async start() {
                const out = fs.openSync(this.log, 'w');
                const args = ['--dev', this.state, '--port', String(this.port),
                        '--shell-dir', process.env.SHELL_DIR];
                this.child = spawn(process.env.GRANARYD, args,
                        { stdio: ['ignore', out, out], env: { ...process.env, ...this.env } });
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
export const problems = [];

function watch(page, label) {
        page.on('console', (m) => {
                if (m.type() === 'error' || m.type() === 'warning')
                        problems.push(`${label}: ${m.text()}`);
        });
        page.on('pageerror', (e) => problems.push(`${label}: uncaught ${e.message}`));
}

// Confirmation dialogs are accepted; their questions are kept for the checks.
export const dialogs = [];

export async function newPage(context, label) {
        const page = await context.newPage();
        watch(page, label);
        page.on('dialog', (d) => {
                dialogs.push(d.message());
                d.accept();
        });
        return page;
}

export const text = (page, selector) => page.locator(selector).innerText();
export const activeId = (page) => page.evaluate(() => document.activeElement?.id ?? '');

// fill(page, {selector: value, …})
export async function fill(page, fields) {
        for (const [selector, value] of Object.entries(fields))
                await page.fill(selector, value);
}

// submit(page, form): clicks the form's submit button and waits until the form has answered (see
// handleForm in src/shell/js/api.js); returns what its .error and .status paragraphs say.
export async function submit(page, form) {
        await page.click(`${form} button[type=submit]`);
        await page.waitForFunction((f) => !document.querySelector(f).hasAttribute('aria-busy'), form);
        const read = async (which) => {
                const p = page.locator(`${form} .${which}`);
                return (await p.count()) ? p.innerText() : '';
        };
        return { error: await read('error'), status: await read('status') };
}

// waitForText(page, selector, want): until the element says exactly WANT.
export function waitForText(page, selector, want, options = {}) {
        return page.waitForFunction(([sel, w]) => document.querySelector(sel)?.textContent === w,
                [selector, want], options);
}

// ---- running the checks ----

let tmp;
let server;

// The page a failed check takes a screenshot of; null for none.
export const shots = { page: null };

// check(name, action): one TAP line. A check fails when action throws; a screenshot of the page it
// was on is then kept beside the server's log.
export async function check(name, action) {
        try {
                await action();
                pass(name);
        } catch (e) {
                let why = e.message;
                if (shots.page) {
                        const shot = path.join(tmp, `failed-${tapN + 1}.png`);
                        try {
                                await shots.page.screenshot({ path: shot, fullPage: true });
                                why += `\nscreenshot: ${shot}`;
                        } catch {
                                // a page that cannot be drawn says enough in the message
                        }
                }
                fail(name, why);
        }
}

// run({env, serverEnv, expectedProblems}, body): checks that the environment names ENV (besides
// GRANARYD, GRANARY and SHELL_DIR), starts granaryd (with SERVEREnv added to its environment) and
// Chromium, awaits body(browser, server), then checks that no page logged a problem other than those
// EXPECTEDPROBLEMS matches and that granaryd stops cleanly, prints the plan and exits.
export async function run({ env = [], serverEnv = {}, expectedProblems = null } = {}, body) {
        process.on('exit', () => {
                if (server?.child && server.exit === null)
                        server.child.kill('SIGKILL');
        });
        try {
                await runInner(env, serverEnv, expectedProblems, body);
        } catch (e) {
                fail('the browser test runs to its end', e.stack || e.message);
                await server?.stop();
                console.log(`1..${tapN}`);
                if (tmp)
                        diag(`kept ${tmp}`);
                process.exit(1);
        }
}

async function runInner(env, serverEnv, expectedProblems, body) {
        for (const name of ['GRANARYD', 'GRANARY', 'SHELL_DIR', ...env])
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

        server = new Server(tmp, await freePort(), serverEnv);
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
                await body(browser, server);
                await check('no page logs an error or a Content-Security-Policy violation', () => {
                        const real = problems.filter((p) => !expectedProblems || !expectedProblems.test(p));
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
