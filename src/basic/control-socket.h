/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/control-socket.h — where granaryd's control socket is, as its clients (the granary CLI, spk dev)
 * find it. granaryd itself takes the path from its configuration (front/config.c), whose default is the
 * same name in its runtime directory. Never logs.
 */

#define CONTROL_SOCKET_NAME "control.sock"
#define CONTROL_SOCKET_DEFAULT "/run/granary/" CONTROL_SOCKET_NAME

/* The socket a client uses: arg_socket (--socket) if given, else arg_dev (--dev STATE_DIR)'s
 * control.sock, else $GRANARY_CONTROL_SOCKET if set and not empty, else CONTROL_SOCKET_DEFAULT.
 * NULL when out of memory. */
char *control_socket_path(const char *arg_socket, const char *arg_dev);
