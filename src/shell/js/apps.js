// The home page's apps and grains: the grains you own (open, rename, stop, delete), the installed apps
// (a new grain of one; for admins also installing a package by upload or drag and drop, and removing an
// app), and the small dialog that asks for a grain's title. Opening a grain is the grain page's job
// (grain.js); who is signed in is home.js's.
import {
        api, appPath, el, formatBytes, formatTime, grainPage, grainPath, uploadPackage, ApiError, FormError,
} from './api.js';

const $ = (id) => document.getElementById(id);

let me = null;
let sessionGone = () => false;
let apps = [];

// ---- the title dialog ----

// ask({heading, label, value, ok, choices}): shows the dialog; resolves to {value, choice} (the trimmed
// text, and the index of the chosen entry of CHOICES when there is more than one), or null when it was
// cancelled. The focus goes back to where it was.
function ask({ heading, label, value = '', ok, choices = [] }) {
        const dialog = $('ask-dialog');
        const form = $('ask-form');
        const input = $('ask-input');
        const select = $('ask-choice');
        const opener = document.activeElement;

        $('ask-title').textContent = heading;
        $('ask-label').textContent = label;
        $('ask-ok').textContent = ok;
        input.value = value;
        input.removeAttribute('aria-invalid');
        $('ask-choice-field').hidden = choices.length < 2;
        select.replaceChildren(...choices.map((c, i) => el('option', { value: String(i) }, c)));

        return new Promise((resolve) => {
                let settled = false;
                const finish = (result) => {
                        if (settled)
                                return;
                        settled = true;
                        form.onsubmit = null;
                        $('ask-cancel').onclick = null;
                        dialog.onclose = null;
                        if (dialog.open)
                                dialog.close();
                        if (opener && opener.isConnected)
                                opener.focus();
                        resolve(result);
                };
                form.onsubmit = (event) => {
                        event.preventDefault();
                        const text = input.value.trim();
                        if (!text) {
                                input.setAttribute('aria-invalid', 'true');
                                input.focus();
                                return;
                        }
                        finish({ value: text, choice: choices.length < 2 ? null : Number(select.value) });
                };
                $('ask-cancel').onclick = () => finish(null);
                dialog.onclose = () => finish(null); // Escape
                dialog.showModal();
                input.select();
        });
}

// ---- messages ----

function say(section, message) {
        $(`${section}-error`).textContent = '';
        $(`${section}-status`).textContent = message;
}

function complain(section, e) {
        if (sessionGone(e))
                return;
        $(`${section}-status`).textContent = '';
        $(`${section}-error`).textContent = e.message;
}

function button(label, className, handler, extra = {}) {
        return el('button', { type: 'button', class: className, onclick: handler, ...extra }, label);
}

// ---- grains ----

const STATE_TEXT = { running: 'running', stopped: 'stopped', stopping: 'stopping' };

function grainRow(g) {
        const title = g.title || 'Untitled';
        const running = g.state === 'running';
        return el('tr', { 'data-grain': g.id },
                el('th', { scope: 'row' }, el('a', { href: grainPage(g.id) }, title)),
                el('td', { 'data-label': 'App' }, g.appTitle || g.appId),
                el('td', { 'data-label': 'State' },
                        el('span', { class: `state state-${running ? 'running' : 'stopped'}` },
                                STATE_TEXT[g.state] ?? String(g.state)),
                        running && typeof g.memory === 'number' && g.memory > 0
                                ? el('span', { class: 'muted' }, ` · ${formatBytes(g.memory)}`) : null,
                        running && typeof g.cpuMs === 'number'
                                ? el('span', { class: 'muted' }, ` · CPU ${(g.cpuMs / 1000).toFixed(1)} s`) : null),
                el('td', { 'data-label': 'Last used' }, formatTime(g.lastUsed)),
                el('td', { class: 'actions-cell' }, el('div', { class: 'actions' },
                        button('Rename', 'secondary', () => renameGrain(g), { 'aria-label': `Rename ${title}` }),
                        button('Stop', 'secondary', () => stopGrain(g),
                                { 'aria-label': `Stop ${title}`, disabled: !running,
                                        title: running ? null : 'It is not running.' }),
                        button('Delete', 'danger', () => deleteGrain(g), { 'aria-label': `Delete ${title}` }))));
}

export async function loadGrains() {
        const { grains } = await api('GET', '/grains');
        grains.sort((a, b) => (b.lastUsed ?? b.created ?? 0) - (a.lastUsed ?? a.created ?? 0));
        $('grains').replaceChildren(...grains.map(grainRow));
        $('grains-empty').hidden = grains.length > 0;
        $('grains-wrap').hidden = grains.length === 0;
        return grains;
}

async function changeGrains(call, message) {
        try {
                await call();
        } catch (e) {
                complain('grains', e);
                await loadGrains().catch(() => {});
                return;
        }
        try {
                await loadGrains();
                say('grains', message);
        } catch (e) {
                complain('grains', e);
        }
}

async function renameGrain(g) {
        const answer = await ask({ heading: 'Rename grain', label: 'Title', value: g.title, ok: 'Rename' });
        if (!answer || answer.value === g.title)
                return;
        await changeGrains(() => api('PATCH', grainPath(g.id), { title: answer.value }),
                `Renamed to “${answer.value}”.`);
}

async function stopGrain(g) {
        await changeGrains(() => api('POST', grainPath(g.id, '/stop')), `“${g.title}” is stopped.`);
}

async function deleteGrain(g) {
        if (!window.confirm(`Delete the grain “${g.title}” and all its data? This cannot be undone.`))
                return;
        await changeGrains(() => api('DELETE', grainPath(g.id)), `“${g.title}” is deleted.`);
}

// ---- apps ----

function appRow(app) {
        const version = app.marketingVersion
                ? `${app.marketingVersion} (${app.version})`
                : app.version === null || app.version === undefined ? '—' : String(app.version);
        const title = app.title || app.id;
        return el('tr', { 'data-app': app.id },
                el('th', { scope: 'row' }, title),
                el('td', { 'data-label': 'Version' }, version),
                el('td', { 'data-label': 'Installed' }, formatTime(app.installed ?? app.created)),
                el('td', { class: 'actions-cell' }, el('div', { class: 'actions' },
                        button('New grain', '', () => newGrain(app),
                                { 'aria-label': `New ${title} grain`, disabled: !app.packageId,
                                        title: app.packageId ? null : 'This app has no package installed.' }),
                        me.admin
                                ? button('Remove', 'danger', () => removeApp(app), { 'aria-label': `Remove ${title}` })
                                : null)));
}

export async function loadApps() {
        ({ apps } = await api('GET', '/apps'));
        $('apps').replaceChildren(...apps.map(appRow));
        $('apps-empty').hidden = apps.length > 0;
        $('apps-wrap').hidden = apps.length === 0;
        return apps;
}

async function newGrain(app) {
        const title = app.title || 'app';
        const actions = Array.isArray(app.actions) ? app.actions.map((a, i) => a.title || `Action ${i + 1}`) : [];
        const answer = await ask({
                heading: `New ${title} grain`, label: 'Title', value: `Untitled ${title}`, ok: 'Create',
                choices: actions,
        });
        if (!answer)
                return;
        const body = { appId: app.id, title: answer.value };
        if (answer.choice !== null)
                body.action = answer.choice;
        try {
                const { grain } = await api('POST', '/grains', body);
                location.assign(grainPage(grain.id));
        } catch (e) {
                complain('apps', e);
        }
}

async function removeApp(app) {
        const title = app.title || app.id;
        if (!window.confirm(`Remove the app ${title}? No new grains can be made from it.`))
                return;
        $('apps-error').textContent = '';
        $('apps-status').textContent = '';
        let answer;
        try {
                answer = await api('DELETE', appPath(app.id));
        } catch (e) {
                if (!(e instanceof ApiError && e.status === 409)) {
                        complain('apps', e);
                        return;
                }
                // Grains (perhaps other people's) still use it: removing it anyway deletes them first,
                // storage and all.
                if (!window.confirm(`Grains still use ${title}. Remove it anyway? Those grains are deleted ` +
                        'too, with all their data, for every user.'))
                        return;
                try {
                        answer = await api('DELETE', appPath(app.id, '?force=1'));
                } catch (e2) {
                        complain('apps', e2);
                        return;
                }
        }
        const n = Array.isArray(answer?.deletedGrains) ? answer.deletedGrains.length : 0;
        try {
                await Promise.all([loadApps(), loadGrains()]);
        } catch (e) {
                complain('apps', e);
                return;
        }
        say('apps', n > 0 ? `${title} is removed, and ${n === 1 ? 'the grain' : `the ${n} grains`} that used it.`
                : `${title} is removed.`);
}

// ---- installing ----

function showProgress(sent, total) {
        const box = $('upload-progress');
        const bar = $('upload-bar');
        box.hidden = false;
        if (total > 0 && sent >= total) {
                bar.removeAttribute('value'); // indeterminate while the server verifies
                $('upload-progress-text').textContent = 'Verifying and unpacking…';
                return;
        }
        bar.max = total || 1;
        bar.value = sent;
        const percent = total ? Math.floor((sent * 100) / total) : 0;
        $('upload-progress-text').textContent = `Uploading: ${percent}% of ${formatBytes(total)}`;
}

function hideProgress() {
        $('upload-progress').hidden = true;
        $('upload-bar').value = 0;
        $('upload-progress-text').textContent = '';
}

const OUTCOME_TEXT = {
        new: (t, v) => `Installed ${t} ${v}.`,
        upgrade: (t, v) => `Upgraded ${t} to ${v}; its grains move to it at their next start.`,
        older: (t, v) => `Kept ${t} ${v} beside the newer version in use.`,
        restored: (t, v) => `Restored ${t} ${v}.`,
};

async function install(form) {
        const file = form.elements.file.files[0];
        if (!file)
                throw new FormError('Choose a package file first.', 'file');
        let answer;
        try {
                showProgress(0, file.size);
                answer = await uploadPackage(file, showProgress);
        } finally {
                hideProgress();
        }
        form.reset();
        await loadApps();
        const version = answer.package?.marketingVersion || String(answer.package?.version ?? '');
        const text = OUTCOME_TEXT[answer.outcome] ?? OUTCOME_TEXT.new;
        return text(answer.app?.title || 'the app', version).replace(/\s+([.;])/g, '$1');
}

function setupUpload() {
        const form = $('upload-form');
        const zone = $('dropzone');
        const input = $('spk-file');
        const error = form.querySelector('.error');
        const status = form.querySelector('.status');
        const buttons = form.querySelectorAll('button');

        // The same steps as handleForm() (api.js), but also started by a drop.
        const run = async () => {
                error.textContent = '';
                status.textContent = '';
                input.removeAttribute('aria-invalid');
                for (const b of buttons)
                        b.disabled = true;
                input.disabled = true;
                form.setAttribute('aria-busy', 'true');
                try {
                        status.textContent = await install(form);
                } catch (e) {
                        if (!sessionGone(e)) {
                                error.textContent = e.message;
                                if (e.field) {
                                        input.setAttribute('aria-invalid', 'true');
                                        input.focus();
                                }
                        }
                } finally {
                        for (const b of buttons)
                                b.disabled = false;
                        input.disabled = false;
                        form.removeAttribute('aria-busy');
                }
        };
        form.addEventListener('submit', (event) => {
                event.preventDefault();
                if (!form.hasAttribute('aria-busy'))
                        run();
        });

        const hasFiles = (event) => Array.from(event.dataTransfer?.types ?? []).includes('Files');
        for (const type of ['dragenter', 'dragover'])
                zone.addEventListener(type, (event) => {
                        if (!hasFiles(event))
                                return;
                        event.preventDefault();
                        event.dataTransfer.dropEffect = 'copy';
                        zone.classList.add('dragging');
                });
        zone.addEventListener('dragleave', (event) => {
                if (!zone.contains(event.relatedTarget))
                        zone.classList.remove('dragging');
        });
        // A file dropped beside the zone would make the browser leave the page to show it.
        for (const type of ['dragover', 'drop'])
                document.addEventListener(type, (event) => {
                        if (hasFiles(event) && !zone.contains(event.target))
                                event.preventDefault();
                });
        zone.addEventListener('drop', (event) => {
                zone.classList.remove('dragging');
                if (!hasFiles(event))
                        return;
                event.preventDefault();
                if (form.hasAttribute('aria-busy'))
                        return;
                const files = event.dataTransfer.files;
                if (files.length !== 1) {
                        error.textContent = 'Drop one package file at a time.';
                        return;
                }
                input.files = files;
                run();
        });
}

// ---- start ----

let started = false;

// Shows both lists for ME; GONE(e) is true when e means the session ended (and has then been dealt with).
export async function startApps(user, gone) {
        me = user;
        sessionGone = gone;
        $('upload-form').hidden = !me.admin;
        $('apps-admin-only').hidden = me.admin;
        if (!started) {
                started = true;
                setupUpload();
        }
        const results = await Promise.allSettled([loadGrains(), loadApps()]);
        if (results[0].status === 'rejected')
                complain('grains', results[0].reason);
        if (results[1].status === 'rejected')
                complain('apps', results[1].reason);
}
