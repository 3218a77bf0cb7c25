// One grain's page (/grain?id=ID[&path=/in/the/app]): a bar with its title (rename in place), the way
// back to the list and the console toggle; the grain itself in an iframe on its session host, a new
// session on each open; the console, its log refreshed every 2 s while it is open. The lists are the
// home page's (apps.js).
import { api, apiText, el, getSession, grainPath, toLogin, ApiError } from './api.js';

const $ = (id) => document.getElementById(id);

const LOG_BYTES = 65536;
const LOG_REFRESH_MS = 2000;
const STATUS_MS = 4000; // how long "Renamed." stays in the bar

const params = new URLSearchParams(location.search);
const grainId = params.get('id');
let grain = null;

function sessionGone(e) {
        if (e instanceof ApiError && e.status === 401) {
                toLogin();
                return true;
        }
        return false;
}

function showPageError(e) {
        if (sessionGone(e))
                return;
        $('page-error').textContent = e.message;
        $('loading').hidden = true;
}

function showTitle() {
        const title = grain.title || 'Untitled';
        $('title-text').textContent = title;
        document.title = `${title} · granary`;
        const frame = $('grain-frame');
        if (frame)
                frame.title = title;
}

// ---- renaming in place ----

function startRename() {
        $('bar-error').textContent = '';
        $('bar-status').textContent = '';
        $('rename-input').value = grain.title || '';
        $('rename-input').removeAttribute('aria-invalid');
        $('grain-heading').hidden = true;
        $('rename-form').hidden = false;
        $('rename-input').select();
        $('rename-input').focus();
}

function endRename() {
        $('rename-form').hidden = true;
        $('grain-heading').hidden = false;
        $('title-button').focus();
}

$('title-button').addEventListener('click', startRename);
$('rename-cancel').addEventListener('click', endRename);
$('rename-input').addEventListener('keydown', (event) => {
        if (event.key === 'Escape') {
                event.preventDefault();
                endRename();
        }
});
$('rename-form').addEventListener('submit', async (event) => {
        event.preventDefault();
        const form = $('rename-form');
        const input = $('rename-input');
        const title = input.value.trim();
        if (!title) {
                input.setAttribute('aria-invalid', 'true');
                $('bar-error').textContent = 'A grain needs a title.';
                input.focus();
                return;
        }
        if (title === grain.title) {
                endRename();
                return;
        }
        form.setAttribute('aria-busy', 'true');
        for (const b of form.querySelectorAll('button'))
                b.disabled = true;
        try {
                const answer = await api('PATCH', grainPath(grain.id), { title });
                grain = { ...grain, ...(answer?.grain ?? { title }) };
                showTitle();
                endRename();
                $('bar-status').textContent = 'Renamed.';
                setTimeout(() => {
                        if ($('bar-status').textContent === 'Renamed.')
                                $('bar-status').textContent = '';
                }, STATUS_MS);
        } catch (e) {
                if (!sessionGone(e)) {
                        $('bar-error').textContent = e.message;
                        input.focus();
                }
        } finally {
                form.removeAttribute('aria-busy');
                for (const b of form.querySelectorAll('button'))
                        b.disabled = false;
        }
});

// ---- the console ----

let logTimer = null;
let logBusy = false;

async function refreshLog() {
        logTimer = null;
        if ($('console').hidden || logBusy)
                return;
        logBusy = true;
        const pre = $('console-log');
        try {
                const text = await apiText(grainPath(grain.id, `/log?bytes=${LOG_BYTES}`));
                $('console-error').textContent = '';
                $('console-status').textContent = text ? '' : 'Nothing logged yet.';
                if (pre.textContent !== text) {
                        // Follow the end, unless the reader has scrolled up to read something.
                        const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
                        pre.textContent = text;
                        if (atEnd)
                                pre.scrollTop = pre.scrollHeight;
                }
        } catch (e) {
                if (sessionGone(e))
                        return;
                $('console-error').textContent = e.message;
        } finally {
                logBusy = false;
        }
        if (!$('console').hidden)
                logTimer = setTimeout(refreshLog, LOG_REFRESH_MS);
}

function setConsole(open) {
        $('console').hidden = !open;
        $('console-toggle').setAttribute('aria-expanded', String(open));
        clearTimeout(logTimer);
        logTimer = null;
        if (open)
                refreshLog();
}

$('console-toggle').addEventListener('click', () => setConsole($('console').hidden));
$('console-close').addEventListener('click', () => {
        setConsole(false);
        $('console-toggle').focus();
});

// ---- the grain ----

// A new session for this open, and the grain in a frame on its session host.
async function openGrain() {
        const body = {};
        const path = params.get('path');
        if (path)
                body.path = path.startsWith('/') ? path : '/' + path;
        const session = await api('POST', grainPath(grain.id, '/session'), body);
        const frame = el('iframe', {
                id: 'grain-frame',
                title: grain.title || 'Untitled',
                src: session.url,
                // The grain's pages, on their own origin: ui-<id>.<wildcard host>, a new host for each
                // session and never the shell's. Sandstorm apps need scripts, forms, popups (links that open
                // a new tab, which then behave as normal pages), downloads and alert()/confirm(), and their
                // own origin: the session bootstrap sets their cookie, and they keep state and call their own
                // API there. allow-same-origin gives the frame that origin and no other. The rule against
                // allow-scripts with allow-same-origin is about a frame on its parent's origin, which could
                // reach up and remove its own sandbox; a grain cannot reach the shell, so the sandbox
                // holds. Left out on purpose: allow-top-navigation (a grain never navigates the shell away),
                // allow-pointer-lock, allow-presentation and allow-orientation-lock.
                sandbox: 'allow-scripts allow-forms allow-same-origin allow-popups allow-popups-to-escape-sandbox ' +
                        'allow-downloads allow-modals',
                // Of the powerful features only fullscreen and writing to the clipboard; no camera,
                // microphone, location or the like.
                allow: 'fullscreen; clipboard-write',
                referrerpolicy: 'no-referrer',
        });
        frame.addEventListener('load', () => {
                $('loading').hidden = true;
        });
        $('main').append(frame);
}

async function start() {
        if (!grainId) {
                $('page-error').textContent = 'Which grain? Open one from the list.';
                $('loading').hidden = true;
                return;
        }
        try {
                if (!(await getSession())) {
                        toLogin();
                        return;
                }
                const answer = await api('GET', grainPath(grainId));
                grain = answer?.grain ?? answer;
                showTitle();
                $('title-button').disabled = false;
                $('console-toggle').disabled = false;
                await openGrain();
        } catch (e) {
                showPageError(e);
        }
}

start();
