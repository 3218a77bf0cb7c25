// The shell's side of granaryd's JSON API (/api/v1), and the few DOM helpers every page shares.
// Requests are same-origin with cookies; every state-changing call carries the session's CSRF token;
// a refusal becomes an ApiError carrying the API's own message.

export class ApiError extends Error {
        constructor(status, message, data = null, retryAfter = null) {
                super(message);
                this.name = 'ApiError';
                this.status = status;
                this.data = data;
                this.retryAfter = retryAfter;
        }
}

// A mistake the page found itself; field names the input to put the focus on.
export class FormError extends Error {
        constructor(message, field = null) {
                super(message);
                this.name = 'FormError';
                this.field = field;
        }
}

let csrfToken = null;

export function setCsrfToken(token) {
        csrfToken = token || null;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export async function api(method, path, body) {
        const headers = { Accept: 'application/json' };
        const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
        if (body !== undefined) {
                headers['Content-Type'] = 'application/json';
                init.body = JSON.stringify(body);
        }
        if (!SAFE_METHODS.has(method) && csrfToken)
                headers['X-CSRF-Token'] = csrfToken;

        let response;
        try {
                response = await fetch('/api/v1' + path, init);
        } catch {
                throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.');
        }

        let data = null;
        const text = await response.text();
        if (text) {
                try {
                        data = JSON.parse(text);
                } catch {
                        data = null;
                }
        }
        if (!response.ok) {
                const message = typeof data?.error === 'string' && data.error
                        ? data.error
                        : `The server answered ${response.status} ${response.statusText}.`.replace(' .', '.');
                throw new ApiError(response.status, message, data, response.headers.get('Retry-After'));
        }
        return data;
}

// GET of a text/plain resource under /api/v1 (a grain's log): its text, or ApiError.
export async function apiText(path) {
        let response;
        try {
                response = await fetch('/api/v1' + path,
                        { headers: { Accept: 'text/plain' }, credentials: 'same-origin', cache: 'no-store' });
        } catch {
                throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.');
        }
        const text = await response.text();
        if (!response.ok) {
                let message = `The server answered ${response.status} ${response.statusText}.`.replace(' .', '.');
                try {
                        const data = JSON.parse(text);
                        if (typeof data?.error === 'string' && data.error)
                                message = data.error;
                } catch {
                        // not JSON: the status says it
                }
                throw new ApiError(response.status, message);
        }
        return text;
}

// POST /apps with the package FILE as the body. fetch() cannot tell how far an upload got, so this is
// XMLHttpRequest: onProgress(sent, total) while the body goes out, then onProgress(total, total) once
// the server has it all and is verifying. Resolves to the answer ({app, package, outcome}).
export function uploadPackage(file, onProgress = () => {}) {
        return new Promise((resolve, reject) => {
                const xhr = new XMLHttpRequest();
                xhr.open('POST', '/api/v1/apps');
                xhr.withCredentials = true;
                xhr.responseType = 'text';
                xhr.setRequestHeader('Accept', 'application/json');
                xhr.setRequestHeader('Content-Type', 'application/octet-stream');
                if (csrfToken)
                        xhr.setRequestHeader('X-CSRF-Token', csrfToken);
                xhr.upload.addEventListener('progress', (e) => onProgress(e.loaded, e.lengthComputable ? e.total : file.size));
                xhr.upload.addEventListener('load', () => onProgress(file.size, file.size));
                xhr.addEventListener('error', () => reject(new ApiError(0,
                        'The upload broke off. Check the connection and try again.')));
                xhr.addEventListener('abort', () => reject(new ApiError(0, 'The upload was cancelled.')));
                xhr.addEventListener('load', () => {
                        let data = null;
                        try {
                                data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
                        } catch {
                                data = null;
                        }
                        if (xhr.status >= 200 && xhr.status < 300) {
                                resolve(data);
                                return;
                        }
                        const message = typeof data?.error === 'string' && data.error
                                ? data.error
                                : `The server answered ${xhr.status} ${xhr.statusText}.`.replace(' .', '.');
                        reject(new ApiError(xhr.status, message, data));
                });
                xhr.send(file);
        });
}

export function getStatus() {
        return api('GET', '/status');
}

// The session ({user, csrfToken}), or null when nobody is signed in.
export async function getSession() {
        try {
                const session = await api('GET', '/session');
                setCsrfToken(session.csrfToken);
                return session;
        } catch (e) {
                if (e.status === 401)
                        return null;
                throw e;
        }
}

export function userPath(name, suffix = '') {
        return '/users/' + encodeURIComponent(name) + suffix;
}

export function appPath(id, suffix = '') {
        return '/apps/' + encodeURIComponent(id) + suffix;
}

export function grainPath(id, suffix = '') {
        return '/grains/' + encodeURIComponent(id) + suffix;
}

// The shell's page for one grain.
export function grainPage(id) {
        return '/grain?id=' + encodeURIComponent(id);
}

// el('p', {class: 'note'}, 'text', child…): an element built without HTML parsing, so that no name or
// message from the server can ever become markup.
export function el(tag, attributes = {}, ...children) {
        const e = document.createElement(tag);
        for (const [key, value] of Object.entries(attributes)) {
                if (value === false || value === null || value === undefined)
                        continue;
                if (key.startsWith('on'))
                        e.addEventListener(key.slice(2), value);
                else
                        e.setAttribute(key, value === true ? '' : value);
        }
        for (const child of children)
                if (child !== null && child !== undefined && child !== false)
                        e.append(child);
        return e;
}

// Milliseconds since the epoch as local date and time; null is "never".
export function formatTime(ms) {
        if (ms === null || ms === undefined)
                return 'never';
        return new Date(ms).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// 1536 → "1.5 KiB".
export function formatBytes(n) {
        const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
        let i = 0;
        let v = Number(n) || 0;
        while (v >= 1024 && i < units.length - 1) {
                v /= 1024;
                i++;
        }
        return i === 0 ? `${v} bytes` : `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

// "in 3 minutes" from a Retry-After value in seconds.
export function retryText(retryAfter) {
        const seconds = Number.parseInt(retryAfter, 10);
        if (!Number.isFinite(seconds) || seconds <= 0)
                return '';
        const minutes = Math.ceil(seconds / 60);
        return minutes <= 1 ? 'in a minute' : `in ${minutes} minutes`;
}

// Runs action(form) on submit with the button disabled, and shows what happened in the form's
// .status (role=status) and .error (role=alert) paragraphs. action returns a success message or
// nothing, and throws ApiError or FormError.
export function handleForm(form, action, onError = null) {
        form.addEventListener('submit', async (event) => {
                event.preventDefault();
                const error = form.querySelector('.error');
                const status = form.querySelector('.status');
                const buttons = form.querySelectorAll('button');
                error.textContent = '';
                if (status)
                        status.textContent = '';
                for (const input of form.querySelectorAll('[aria-invalid]'))
                        input.removeAttribute('aria-invalid');
                for (const b of buttons)
                        b.disabled = true;
                form.setAttribute('aria-busy', 'true');
                try {
                        const message = await action(form);
                        if (message && status)
                                status.textContent = message;
                } catch (e) {
                        if (onError && onError(e))
                                return;
                        error.textContent = e.message;
                        const field = e.field && form.elements[e.field];
                        if (field) {
                                field.setAttribute('aria-invalid', 'true');
                                field.focus();
                        }
                } finally {
                        for (const b of buttons)
                                b.disabled = false;
                        form.removeAttribute('aria-busy');
                }
        });
}

// Where to go when the session is gone mid-way.
export function toLogin() {
        location.replace('/login');
}
