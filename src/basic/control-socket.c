/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include <stdlib.h>

#include "basic/control-socket.h"
#include "basic/fileio.h"
#include "basic/string-util.h"

char *control_socket_path(const char *arg_socket, const char *arg_dev) {
        const char *e;

        if (arg_socket)
                return strdup(arg_socket);
        if (arg_dev)
                return path_join(arg_dev, CONTROL_SOCKET_NAME);
        e = getenv("GRANARY_CONTROL_SOCKET");
        if (!isempty(e))
                return strdup(e);
        return strdup(CONTROL_SOCKET_DEFAULT);
}
