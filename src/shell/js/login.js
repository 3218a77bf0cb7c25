// The sign-in page: name and password, then a TOTP code when the account has one.
import { api, getSession, getStatus, handleForm, retryText, ApiError, FormError } from './api.js';

const form = document.getElementById('login-form');
const totpField = document.getElementById('totp-field');
const totp = document.getElementById('totp');

function askForCode() {
        totpField.hidden = false;
        totp.required = true;
        totp.focus();
}

handleForm(form, async () => {
        const body = { name: form.elements.name.value.trim(), password: form.elements.password.value };
        if (!totpField.hidden) {
                body.totp = totp.value.trim();
                if (!/^[0-9]{6}$/.test(body.totp))
                        throw new FormError('Enter the six digits from your authenticator app.', 'totp');
        }
        try {
                await api('POST', '/session', body);
        } catch (e) {
                if (e instanceof ApiError && e.status === 401 && e.data?.totpRequired) {
                        const first = totpField.hidden;
                        askForCode();
                        totp.value = '';
                        if (first)
                                throw new ApiError(401, 'This account also needs a code from its authenticator app.');
                        throw new FormError(e.message, 'totp');
                }
                if (e instanceof ApiError && e.status === 401)
                        throw new FormError(e.message, 'password');
                if (e instanceof ApiError && e.status === 429) {
                        const when = retryText(e.retryAfter);
                        throw new ApiError(429, when ? `Too many failed attempts. Try again ${when}.` : e.message);
                }
                throw e;
        }
        location.replace('/');
});

async function start() {
        try {
                if (await getSession()) {
                        location.replace('/');
                        return;
                }
                const status = await getStatus();
                document.getElementById('setup-note').hidden = !status.needsSetup;
        } catch (e) {
                form.querySelector('.error').textContent = e.message;
        }
        form.elements.name.focus();
}

start();
