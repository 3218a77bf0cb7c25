/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * basic/log.h — logging for programs: to the journal when stderr is connected to it (JOURNAL_STREAM)
 * or when log_open_journal() is called, to stderr otherwise. Library modules log at debug level
 * only. Messages take %m for strerror(-error). Extra journal fields ("GRAIN_ID=…") go through
 * log_struct(). The functions taking an error return -abs(error), so `return log_error_errno(r, …)`
 * logs and fails in one line.
 */

#include <stdarg.h>
#include <syslog.h>

#include "basic/macro.h"

/* Parses "debug", "info", "notice", "warning", "err" (and "emerg", "alert", "crit") or a digit 0–7. */
int log_level_from_string(const char *s);
/* The level starts as $GRANARY_LOG_LEVEL, else LOG_INFO; an explicit log_set_max_level() wins. */
void log_set_max_level(int level);
int log_get_max_level(void);
/* Program name shown in stderr lines ("spk: …"); defaults to program_invocation_short_name. */
void log_set_program(const char *name);
/* Send to the journal even when stderr is a terminal. */
void log_open_journal(void);
/* Where the journal's socket is: path (which must stay valid), or journald's own for NULL. Messages
 * for a socket other than journald's are sent here in its native protocol, one datagram each; one
 * that does not fit in a datagram goes to stderr. */
void log_set_journal_socket(const char *path);

int log_internal(int level, int error, const char *file, int line, const char *func, const char *fmt, ...)
        _printf_(6, 7);
int log_internalv(int level, int error, const char *file, int line, const char *func, const char *fmt,
                  va_list ap) _printf_(6, 0);
/* fmt, then NULL-terminated "FIELD=value" format strings with their arguments, like sd_journal_send. */
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *format, ...);

#define log_full_errno(level, error, ...)                                                                    \
        ({                                                                                                   \
                int _level_ = (level), _e_ = (error);                                                        \
                (log_get_max_level() >= _level_)                                                             \
                        ? log_internal(_level_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__)              \
                        : -abs(_e_);                                                                         \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)
#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

#define log_struct(level, ...) log_struct_internal(level, 0, __FILE__, __LINE__, __func__, __VA_ARGS__, NULL)
#define log_struct_errno(level, error, ...)                                                                  \
        log_struct_internal(level, error, __FILE__, __LINE__, __func__, __VA_ARGS__, NULL)
