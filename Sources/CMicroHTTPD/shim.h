#ifndef CONSUMERD_CMICROHTTPD_SHIM_H
#define CONSUMERD_CMICROHTTPD_SHIM_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <ctype.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <microhttpd.h>

// MHD_start_daemon is variadic; Swift cannot call it. This is the one shape
// the server uses: internal epoll thread pool, suspend/resume for async
// handlers, explicit limits, a bound address and, when a certificate and key
// (PEM text) are given, TLS.
// libmicrohttpd's own messages (a refused connection, a malformed request)
// go to swift-log through this function, defined in Swift, instead of raw
// lines on stderr.
void consumerd_http_log(void *context, const char *message);

static void cmhd_log_trampoline(void *context, const char *format, va_list arguments) {
    char message[512];
    vsnprintf(message, sizeof message, format, arguments);
    size_t length = strlen(message);
    while (length > 0 && (message[length - 1] == '\n' || message[length - 1] == '\r')) {
        message[--length] = '\0';
    }
    consumerd_http_log(context, message);
}

// Percent-decoding of paths and query values, as libmicrohttpd does, except
// that %00 and %2F stay encoded: a decoded NUL would cut the path short
// (`/consumers/a%00b/status` read as `/consumers/a`) and a decoded slash
// would become a separator. The server refuses paths that keep either.
static size_t cmhd_unescape(void *context, struct MHD_Connection *connection, char *text) {
    (void)context;
    (void)connection;
    char *read = text;
    char *write = text;
    while (*read != '\0') {
        if (read[0] == '%' && isxdigit((unsigned char)read[1]) && isxdigit((unsigned char)read[2])) {
            char digits[3] = {read[1], read[2], '\0'};
            unsigned long value = strtoul(digits, NULL, 16);
            if (value != 0 && value != '/') {
                *write++ = (char)value;
                read += 3;
                continue;
            }
        }
        *write++ = *read++;
    }
    *write = '\0';
    return (size_t)(write - text);
}

struct cmhd_limits {
    unsigned int thread_pool_size;
    unsigned int connection_limit;
    unsigned int per_ip_connection_limit;
    unsigned int connection_timeout_seconds;
    size_t connection_memory_limit;
};

static inline struct MHD_Daemon *cmhd_start_daemon(const struct sockaddr *address,
                                                   int ipv6,
                                                   MHD_AccessHandlerCallback handler,
                                                   MHD_RequestCompletedCallback completed,
                                                   MHD_NotifyConnectionCallback connection_events,
                                                   void *context,
                                                   struct cmhd_limits limits,
                                                   const char *tls_certificate_pem,
                                                   const char *tls_key_pem) {
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO |
                         MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ipv6) {
        flags |= MHD_USE_IPv6;
    }
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)tls_certificate_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls_key_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls_certificate_pem != NULL && tls_key_pem != NULL) {
        flags |= MHD_USE_TLS;
    } else {
        tls[0].option = MHD_OPTION_END;
    }
    // The logger first, so that libmicrohttpd reports nothing through its own.
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, context,
                            MHD_OPTION_EXTERNAL_LOGGER, cmhd_log_trampoline, context,
                            MHD_OPTION_SOCK_ADDR, address,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, context,
                            MHD_OPTION_NOTIFY_CONNECTION, connection_events, context,
                            MHD_OPTION_UNESCAPE_CALLBACK, cmhd_unescape, NULL,
                            MHD_OPTION_THREAD_POOL_SIZE, limits.thread_pool_size,
                            MHD_OPTION_CONNECTION_LIMIT, limits.connection_limit,
                            MHD_OPTION_PER_IP_CONNECTION_LIMIT, limits.per_ip_connection_limit,
                            MHD_OPTION_CONNECTION_TIMEOUT, limits.connection_timeout_seconds,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.connection_memory_limit,
                            MHD_OPTION_ARRAY, tls,
                            MHD_OPTION_END);
}

// MHD_get_daemon_info is variadic too; the bound port is all we need (port 0
// binds an ephemeral port, which tests rely on).
static inline uint16_t cmhd_bound_port(struct MHD_Daemon *daemon) {
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    return info != NULL ? info->port : 0;
}

// The socket of a connection (MHD_get_connection_info is variadic).
static inline int cmhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info != NULL ? info->connect_fd : -1;
}

#endif
