// The first-start page: the setup token from the link (?token=…) creates an admin account and signs
// it in.
import { api, handleForm, ApiError, FormError } from './api.js';

const form = document.getElementById('setup-form');
const token = new URLSearchParams(location.search).get('token');

handleForm(form, async () => {
        const name = form.elements.name.value.trim();
        const displayName = form.elements.displayName.value.trim();
        const password = form.elements.password.value;
        if (password !== form.elements.password2.value)
                throw new FormError('The two passwords are not the same.', 'password2');
        const body = { token, name, password };
        if (displayName)
                body.displayName = displayName;
        try {
                await api('POST', '/setup', body);
        } catch (e) {
                if (e instanceof ApiError && e.status === 403)
                        throw new ApiError(403, `${e.message} Run granary admin-token on the server for a new link.`);
                if (e instanceof ApiError && e.status === 409)
                        throw new FormError(e.message, 'name');
                throw e;
        }
        location.replace('/');
});

if (token) {
        form.hidden = false;
        form.elements.name.focus();
} else {
        document.getElementById('no-token').hidden = false;
}
