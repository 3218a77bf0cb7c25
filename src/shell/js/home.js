// The home page: who you are and your account (display name, password, two-factor sign-in); for
// admins also the server's status and its users. Your grains and the installed apps are apps.js's.
import {
        api, el, formatTime, getSession, getStatus, handleForm, setCsrfToken, toLogin, userPath, ApiError, FormError,
} from './api.js';
import { startApps } from './apps.js';

const $ = (id) => document.getElementById(id);
let me = null;

// Session gone (expired, signed out elsewhere, password changed): back to the sign-in page.
function sessionGone(e) {
        if (e instanceof ApiError && e.status === 401) {
                toLogin();
                return true;
        }
        return false;
}

function showPageError(e) {
        if (!sessionGone(e))
                $('page-error').textContent = e.message;
}

function renderMe() {
        const display = me.displayName || me.name;
        $('who-name').textContent = display === me.name ? `Signed in as ${me.name}` : `Signed in as ${display} (${me.name})`;
        $('who').hidden = false;
        $('me-name').textContent = me.name;
        $('me-role').textContent = me.admin ? 'Admin' : 'User';
        $('me-created').textContent = formatTime(me.created);
        $('display-name').value = display;
        for (const input of document.querySelectorAll('input[name=username]'))
                input.value = me.name;
        $('totp-on').hidden = !me.totp;
        $('totp-off').hidden = me.totp;
        $('admin').hidden = !me.admin;
}

async function reloadMe() {
        const session = await getSession();
        if (!session) {
                toLogin();
                return false;
        }
        me = session.user;
        renderMe();
        return true;
}

// ---- your account ----

$('logout').addEventListener('click', async () => {
        try {
                await api('DELETE', '/session');
        } catch (e) {
                if (!(e instanceof ApiError && e.status === 401)) {
                        showPageError(e);
                        return;
                }
        }
        toLogin();
});

handleForm($('display-form'), async (form) => {
        const displayName = form.elements.displayName.value.trim();
        if (!displayName)
                throw new FormError('Enter a display name.', 'displayName');
        const reply = await api('PATCH', userPath(me.name), { displayName });
        me = reply?.user ?? { ...me, displayName };
        renderMe();
        if (me.admin)
                await loadUsers();
        return 'Saved.';
}, sessionGone);

handleForm($('password-form'), async (form) => {
        const password = form.elements.password.value;
        if (password !== form.elements.password2.value)
                throw new FormError('The two new passwords are not the same.', 'password2');
        try {
                // The change ends every session of the account; this one goes on with the new session
                // the answer brings (its cookie, and its CSRF token here).
                const reply = await api('PATCH', userPath(me.name), {
                        password,
                        currentPassword: form.elements.currentPassword.value,
                });
                if (reply?.csrfToken)
                        setCsrfToken(reply.csrfToken);
        } catch (e) {
                if (e instanceof ApiError && e.status === 403)
                        throw new FormError(e.message, 'currentPassword');
                throw e;
        }
        form.reset();
        return 'Your password is changed.';
}, sessionGone);

// ---- two-factor sign-in ----

let pendingSecret = null;

function groupKey(secret) {
        return secret.replace(/(.{4})(?=.)/g, '$1 ');
}

handleForm($('totp-start-form'), async () => {
        const { secret, uri } = await api('GET', '/totp/new');
        pendingSecret = secret;
        $('totp-secret').textContent = groupKey(secret);
        $('totp-uri').textContent = uri;
        $('totp-link').href = uri;
        $('totp-start-form').hidden = true;
        $('totp-enable-form').hidden = false;
        $('totp-code').value = '';
        $('totp-code').focus();
}, sessionGone);

function closeTotpSetup() {
        pendingSecret = null;
        $('totp-enable-form').hidden = true;
        $('totp-start-form').hidden = false;
        $('totp-secret').textContent = '';
        $('totp-uri').textContent = '';
        $('totp-link').removeAttribute('href');
}

$('totp-cancel').addEventListener('click', () => {
        closeTotpSetup();
        $('totp-start-form').querySelector('button').focus();
});

handleForm($('totp-enable-form'), async (form) => {
        const code = form.elements.code.value.trim();
        if (!/^[0-9]{6}$/.test(code))
                throw new FormError('Enter the six digits the app shows.', 'code');
        try {
                await api('POST', '/totp', { secret: pendingSecret, code });
        } catch (e) {
                if (e instanceof ApiError && e.status === 400)
                        throw new FormError(e.message, 'code');
                throw e;
        }
        closeTotpSetup();
        await reloadMe();
        if (me.admin)
                await loadUsers();
        $('totp-status').textContent = 'Two-factor sign-in is on.';
        $('totp-password').focus();
}, sessionGone);

handleForm($('totp-disable-form'), async (form) => {
        try {
                await api('DELETE', '/totp', { password: form.elements.password.value });
        } catch (e) {
                if (e instanceof ApiError && (e.status === 403 || e.status === 400))
                        throw new FormError(e.message, 'password');
                throw e;
        }
        form.reset();
        await reloadMe();
        if (me.admin)
                await loadUsers();
        $('totp-status').textContent = 'Two-factor sign-in is off.';
        $('totp-start-form').querySelector('button').focus();
}, sessionGone);

// ---- admin: server and users ----

// "3 minutes", "5 hours, 2 minutes", "12 days, 3 hours": the two largest units.
function formatDuration(seconds) {
        const units = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];
        const parts = [];
        for (const [name, size] of units) {
                const n = Math.floor(seconds / size);
                seconds -= n * size;
                if (n > 0 || (parts.length > 0 && parts.length < 2))
                        parts.push(n === 1 ? `1 ${name}` : `${n} ${name}s`);
                if (parts.length === 2)
                        break;
        }
        return parts.filter((p) => !p.startsWith('0 ')).join(', ') || 'less than a second';
}

async function loadStatus() {
        const status = await getStatus();
        const facts = [
                ['Version', status.version],
                ['Address', status.baseUrl],
                ['App host names', status.wildcardHost],
        ];
        if (typeof status.users === 'number')
                facts.push(['Accounts', String(status.users)]);
        if (typeof status.uptime === 'number')
                facts.push(['Running for', formatDuration(status.uptime)]);
        $('server-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function userAction(label, className, handler, disabledReason = null) {
        return el('button', {
                type: 'button',
                class: className,
                disabled: Boolean(disabledReason),
                title: disabledReason,
                onclick: handler,
        }, label);
}

async function changeUser(message, confirmText, call) {
        if (confirmText && !window.confirm(confirmText))
                return;
        $('users-error').textContent = '';
        $('users-status').textContent = '';
        try {
                await call();
        } catch (e) {
                await refreshAdmin();
                showUsersError(e);
                return;
        }
        await refreshAdmin();
        $('users-status').textContent = message;
}

function showUsersError(e) {
        if (!sessionGone(e))
                $('users-error').textContent = e.message;
}

function userRow(u) {
        const self = u.name === me.name;
        const display = u.displayName || u.name;
        const actions = el('div', { class: 'actions' },
                u.admin
                        ? userAction('Remove admin', 'secondary', () => changeUser(`${u.name} is no longer an admin.`,
                                self ? 'Remove your own admin rights? Only another admin can give them back.' : null,
                                () => api('PATCH', userPath(u.name), { admin: false })))
                        : userAction('Make admin', 'secondary', () => changeUser(`${u.name} is now an admin.`,
                                null, () => api('PATCH', userPath(u.name), { admin: true }))),
                userAction('Delete', 'danger', () => changeUser(`${u.name} is deleted.`,
                        `Delete the account ${u.name}? This cannot be undone.`,
                        () => api('DELETE', userPath(u.name))),
                self ? 'You cannot delete your own account.' : null));
        return el('tr', {},
                el('th', { scope: 'row' }, u.name, self ? el('span', { class: 'tag' }, 'you') : null),
                el('td', { 'data-label': 'Display name' }, display),
                el('td', { 'data-label': 'Admin' }, u.admin ? 'yes' : 'no'),
                el('td', { 'data-label': 'Two-factor' }, u.totp ? 'on' : 'off'),
                el('td', { 'data-label': 'Last sign-in' }, formatTime(u.lastLogin)),
                el('td', { class: 'actions-cell' }, actions));
}

async function loadUsers() {
        const { users } = await api('GET', '/users');
        $('users').replaceChildren(...users.map(userRow));
}

async function refreshAdmin() {
        try {
                if (!(await reloadMe()))
                        return;
                if (me.admin)
                        await Promise.all([loadStatus(), loadUsers()]);
        } catch (e) {
                showUsersError(e);
        }
}

handleForm($('add-user-form'), async (form) => {
        const name = form.elements.name.value.trim();
        const displayName = form.elements.displayName.value.trim();
        const body = { name, password: form.elements.password.value, admin: form.elements.admin.checked };
        if (displayName)
                body.displayName = displayName;
        try {
                await api('POST', '/users', body);
        } catch (e) {
                if (e instanceof ApiError && e.status === 409)
                        throw new FormError(e.message, 'name');
                throw e;
        }
        form.reset();
        await Promise.all([loadStatus(), loadUsers()]);
        form.elements.name.focus();
        return `Added ${name}.`;
}, sessionGone);

// ---- start ----

async function start() {
        try {
                if (!(await reloadMe()))
                        return;
                $('main').hidden = false;
                $('sections').hidden = false;
                await Promise.all([startApps(me, sessionGone), me.admin ? loadStatus() : null,
                        me.admin ? loadUsers() : null]);
        } catch (e) {
                showPageError(e);
        }
}

start();
