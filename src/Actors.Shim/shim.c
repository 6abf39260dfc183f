/*
 * libiommufd_shim.so: LD_PRELOAD this into an unmodified program and its opens of /dev/iommu and
 * /dev/vfio/devices/vfioN reach the emulator over the wire protocol instead of the kernel.
 *
 * Each emulated file is stood for by a real eventfd whose number is the fd the program sees, so
 * the number is never reused by libc and poll/select/epoll work on fault and event queues (the
 * emulator signals readiness with FD_READY, which writes to the eventfd).
 *
 * Fork: a child drops the parent's connection and opens its own on first use. The protocol has
 * no way to share one emulated file between two connections, so fds the child inherited keep
 * their numbers (the eventfd is inherited as any fd would be) but every forwarded call on them
 * fails with EBADF, which is what the server would answer for an fd not open on the child's
 * connection; close() of such an fd just closes the local eventfd and never touches the parent's
 * file. New opens in the child work normally.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "wire.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/*
 * Default socket: run/iommufd.sock relative to the current folder. The host's default socket is
 * run/iommufd.sock under its working folder, so a program started from that folder needs no
 * setting; elsewhere set IOMMUFD_SOCKET.
 */
#define DEFAULT_SOCKET "run/iommufd.sock"
#define MAX_SHIM_FD 65536
/* Room for the IOCTL header fields inside one frame. */
#define FRAME_SLACK 64u

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_ioctl)(int, unsigned long, ...);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_fcntl)(int, int, ...);

/* Per fd number: 0 = not ours, otherwise the connection generation it was opened on. */
static unsigned int fd_generation[MAX_SHIM_FD];

struct waiter {
	uint64_t seq;
	uint16_t kind;
	int fd;
	bool done;
	int err;		/* set when the connection dropped before the reply */
	uint8_t *reply;		/* reply body, malloc'd by the reader */
	uint32_t reply_len;
	pthread_cond_t cond;
	struct waiter *next;
};

/* state_lock guards the connection fields and the waiter list; send_lock serialises writes of
 * whole frames to the socket. Neither is ever taken while the other is held (the HELLO, sent
 * under state_lock, goes on a socket nobody else knows yet, without send_lock), so fork's
 * handlers can take both. */
static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t send_lock = PTHREAD_MUTEX_INITIALIZER;
static int conn_sock = -1;
static bool conn_dead;
static unsigned int generation = 1;
static uint64_t next_seq = 1;
static uint32_t max_frame = 65536;
static uint64_t session_token;	/* from HELLO; offered again after the connection drops */
static struct waiter *waiters;
static pid_t my_pid;		/* for process_vm_readv/writev on ourselves; reset in a child */

static void resolve(void)
{
	if (real_close)
		return;
	real_open = dlsym(RTLD_NEXT, "open");
	real_openat = dlsym(RTLD_NEXT, "openat");
	real_read = dlsym(RTLD_NEXT, "read");
	real_write = dlsym(RTLD_NEXT, "write");
	real_ioctl = dlsym(RTLD_NEXT, "ioctl");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_close = dlsym(RTLD_NEXT, "close");
}

/* ---- fd table ---- */

static bool is_shim_fd(int fd)
{
	return fd >= 0 && fd < MAX_SHIM_FD && __atomic_load_n(&fd_generation[fd], __ATOMIC_ACQUIRE);
}

/* A shim fd opened on an earlier connection (before a fork): its file is not ours any more. */
static bool is_stale_fd(int fd)
{
	return __atomic_load_n(&fd_generation[fd], __ATOMIC_ACQUIRE) !=
	       __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

static void mark_fd(int fd)
{
	__atomic_store_n(&fd_generation[fd], __atomic_load_n(&generation, __ATOMIC_ACQUIRE),
			 __ATOMIC_RELEASE);
}

static void unmark_fd(int fd)
{
	if (fd >= 0 && fd < MAX_SHIM_FD)
		__atomic_store_n(&fd_generation[fd], 0, __ATOMIC_RELEASE);
}

/* ---- safe access to our own memory: a bad address gives EFAULT, never a signal ---- */

/* Copies through a pipe: the kernel reports EFAULT for a bad user buffer on either end. Used
 * where process_vm_readv/writev are not allowed (some seccomp profiles). */
static int pipe_copy(void *dst, const void *src, size_t len)
{
	int p[2];
	int err = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	while (len && !err) {
		size_t chunk = len < 4096 ? len : 4096;
		ssize_t n = real_write(p[1], src, chunk);

		if (n != (ssize_t)chunk) {
			err = n < 0 ? errno : EFAULT;
			break;
		}
		n = real_read(p[0], dst, chunk);
		if (n != (ssize_t)chunk)
			err = n < 0 ? errno : EFAULT;
		src = (const uint8_t *)src + chunk;
		dst = (uint8_t *)dst + chunk;
		len -= chunk;
	}
	real_close(p[0]);
	real_close(p[1]);
	return err;
}

/* Reads len bytes at the program's address addr into buf; 0 or EFAULT. */
static int safe_read(void *buf, uint64_t addr, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if (!len)
		return 0;
	n = process_vm_readv(my_pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == ENOSYS || errno == EPERM))
		return pipe_copy(buf, (const void *)(uintptr_t)addr, len) ? EFAULT : 0;
	return EFAULT;
}

/* Writes len bytes of buf at the program's address addr; 0 or EFAULT. */
static int safe_write(uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };
	ssize_t n;

	if (!len)
		return 0;
	n = process_vm_writev(my_pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == ENOSYS || errno == EPERM))
		return pipe_copy((void *)(uintptr_t)addr, buf, len) ? EFAULT : 0;
	return EFAULT;
}

/* ---- the connection ---- */

/* The receive side of one connection, buffered so a small frame costs one recv. */
struct recv_buffer {
	int sock;
	size_t start, end;
	uint8_t data[16384];
};

static int recv_all(struct recv_buffer *rb, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		size_t have = rb->end - rb->start;
		ssize_t n;

		if (have) {
			size_t take = have < len ? have : len;

			memcpy(p, rb->data + rb->start, take);
			rb->start += take;
			p += take;
			len -= take;
			continue;
		}
		rb->start = rb->end = 0;
		if (len >= sizeof(rb->data))
			n = recv(rb->sock, p, len, 0);
		else
			n = recv(rb->sock, rb->data, sizeof(rb->data), 0);
		if (n == 0)
			return ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (len >= sizeof(rb->data)) {
			p += n;
			len -= n;
		} else {
			rb->end = n;
		}
	}
	return 0;
}

/* Header and body in one sendmsg. */
static int send_frame_unlocked(int sock, uint16_t kind, uint16_t flags, uint64_t seq,
			       const void *body, uint32_t len)
{
	uint8_t h[WIRE_HEADER_LEN];
	struct iovec iov[2] = { { h, sizeof(h) }, { (void *)body, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	wire_header(h, len, kind, flags, seq);
	while (msg.msg_iovlen) {
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (uint8_t *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= n;
		}
	}
	return 0;
}

/* One whole frame, header and body, under send_lock so frames of different threads never mix. */
static int send_frame(int sock, uint16_t kind, uint16_t flags, uint64_t seq, const void *body,
		      uint32_t len)
{
	int err;

	pthread_mutex_lock(&send_lock);
	err = send_frame_unlocked(sock, kind, flags, seq, body, len);
	pthread_mutex_unlock(&send_lock);
	return err;
}

/* Reads one frame; *body is malloc'd (may be NULL when empty). */
static int recv_frame(struct recv_buffer *rb, uint16_t *kind, uint16_t *flags, uint64_t *seq, uint8_t **body,
		      uint32_t *len)
{
	uint8_t h[WIRE_HEADER_LEN];
	uint32_t total;
	int err = recv_all(rb, h, sizeof(h));

	if (err)
		return err;
	total = wire_get32(h);
	if (total < WIRE_HEADER_LEN - 4 || total > (64u << 20))
		return EPROTO;
	*kind = wire_get16(h + 4);
	*flags = wire_get16(h + 6);
	*seq = wire_get64(h + 8);
	*len = total - (WIRE_HEADER_LEN - 4);
	*body = malloc(*len ? *len : 1);
	if (!*body)
		return ENOMEM;
	err = recv_all(rb, *body, *len);
	if (err)
		free(*body);
	return err;
}

static void reply_errno(int sock, uint16_t kind, uint64_t seq, int err, const void *data,
			uint32_t len)
{
	uint8_t *b = malloc(4 + len);

	if (!b)
		return;
	wire_put32(b, (uint32_t)err);
	if (len)
		memcpy(b + 4, data, len);
	send_frame(sock, kind, WIRE_FLAG_REPLY, seq, b, 4 + len);
	free(b);
}

static void serve_mem_read(int sock, uint64_t seq, const uint8_t *body, uint32_t len)
{
	uint64_t addr;
	uint32_t count;
	uint8_t *data;
	int err;

	if (len < 12) {
		reply_errno(sock, WIRE_MEM_READ, seq, EINVAL, NULL, 0);
		return;
	}
	addr = wire_get64(body);
	count = wire_get32(body + 8);
	if (count > max_frame) {
		reply_errno(sock, WIRE_MEM_READ, seq, EINVAL, NULL, 0);
		return;
	}
	data = malloc(count ? count : 1);
	if (!data) {
		reply_errno(sock, WIRE_MEM_READ, seq, ENOMEM, NULL, 0);
		return;
	}
	err = safe_read(data, addr, count);
	reply_errno(sock, WIRE_MEM_READ, seq, err, data, err ? 0 : count);
	free(data);
}

static void serve_mem_write(int sock, uint64_t seq, const uint8_t *body, uint32_t len)
{
	if (len < 8) {
		reply_errno(sock, WIRE_MEM_WRITE, seq, EINVAL, NULL, 0);
		return;
	}
	reply_errno(sock, WIRE_MEM_WRITE, seq, safe_write(wire_get64(body), body + 8, len - 8),
		    NULL, 0);
}

/*
 * EXT_MEM_CHECK: could the kernel pin [addr, addr+len) now? Yes when mappings of ours cover every
 * byte without a gap, each readable (writable, for a pin for writing), which is what
 * get_user_pages asks of the VMAs it walks. /proc/self/maps lists the mappings in address order,
 * so one pass over it answers for any length. 0, EFAULT, or EINVAL when it cannot be read (the
 * host then takes the pages as they are).
 */
static int check_pinnable(uint64_t addr, uint64_t len, bool write)
{
	char buf[4096], line[512];
	size_t used = 0;
	uint64_t at = addr, end = addr + len;
	int fd, verdict = -1;
	ssize_t n;

	if (!len)
		return 0;
	if (end < addr)
		return EFAULT;
	fd = real_open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return EINVAL;
	while (verdict < 0 && (n = real_read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n && verdict < 0; i++) {
			unsigned long long lo, hi;
			char perms[8];

			if (buf[i] != '\n') {
				if (used < sizeof(line) - 1)
					line[used++] = buf[i];
				continue;
			}
			line[used] = 0;
			used = 0;
			if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 || hi <= at)
				continue;
			/* a gap before this mapping, or a mapping without the access asked for */
			if (lo > at || perms[write ? 1 : 0] != (write ? 'w' : 'r'))
				verdict = EFAULT;
			else if ((at = hi) >= end)
				verdict = 0;
		}
	}
	real_close(fd);
	return verdict < 0 ? EFAULT : verdict;
}

static void serve_mem_check(int sock, uint64_t seq, const uint8_t *body, uint32_t len)
{
	if (len < 20) {
		reply_errno(sock, WIRE_EXT_MEM_CHECK, seq, EINVAL, NULL, 0);
		return;
	}
	reply_errno(sock, WIRE_EXT_MEM_CHECK, seq,
		    check_pinnable(wire_get64(body), wire_get64(body + 8),
				   wire_get32(body + 16) & WIRE_MEM_CHECK_WRITE), NULL, 0);
}

/* The server made a new file (a fault or event queue): reserve a number for it. Kernel queue
 * fds are close-on-exec and blocking. */
static void serve_new_fd(int sock, uint64_t seq)
{
	uint8_t b[8];
	int fd = eventfd(0, EFD_CLOEXEC);
	int err = 0;

	if (fd < 0) {
		err = errno;
	} else if (fd >= MAX_SHIM_FD) {
		real_close(fd);
		fd = -1;
		err = EMFILE;
	} else {
		mark_fd(fd);
	}
	wire_put32(b, (uint32_t)err);
	wire_put32(b + 4, (uint32_t)fd);
	send_frame(sock, WIRE_NEW_FD, WIRE_FLAG_REPLY, seq, b, sizeof(b));
}

static void drain_eventfd(int fd);

/* FD_READY with POLLIN among the events makes the eventfd readable; without it (a fault queue
 * whose last pending group was just read) the file is no longer readable, so the eventfd is
 * drained and poll() stops reporting POLLIN. */
static void serve_fd_ready(const uint8_t *body, uint32_t len)
{
	uint64_t one = 1;
	int fd;

	if (len < 8)
		return;
	fd = (int32_t)wire_get32(body);
	if (!is_shim_fd(fd) || is_stale_fd(fd))
		return;
	if (wire_get32(body + 4) & POLLIN)
		real_write(fd, &one, sizeof(one));
	else
		drain_eventfd(fd);
}

/* Takes the eventfd's count without blocking: the queue was found empty, so readiness signalled
 * before that answer is used up. */
static void drain_eventfd(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t count;

	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
		real_read(fd, &count, sizeof(count));
}

/* Fails every waiting call; the connection is gone. */
static void fail_waiters_locked(int err)
{
	for (struct waiter *w = waiters; w; w = w->next) {
		w->done = true;
		w->err = err;
		pthread_cond_signal(&w->cond);
	}
	waiters = NULL;
}

struct reader_args {
	struct recv_buffer *rb;	/* handed over by connect_locked, with anything read after HELLO */
	unsigned int generation;
};

/* Owns the receive side: replies go to their waiting callers (by seq), server requests are
 * served at once, including memory requests that arrive when nobody waits. */
static void *reader_main(void *p)
{
	struct reader_args args = *(struct reader_args *)p;
	int sock = args.rb->sock;

	free(p);
	for (;;) {
		uint16_t kind, flags;
		uint64_t seq;
		uint8_t *body;
		uint32_t len;
		int err = recv_frame(args.rb, &kind, &flags, &seq, &body, &len);

		if (err) {
			pthread_mutex_lock(&state_lock);
			if (generation == args.generation && conn_sock == sock) {
				conn_dead = true;
				fail_waiters_locked(EIO);
			}
			pthread_mutex_unlock(&state_lock);
			free(args.rb);
			return NULL;
		}
		if (flags & WIRE_FLAG_REPLY) {
			struct waiter **pw, *w = NULL;

			pthread_mutex_lock(&state_lock);
			for (pw = &waiters; *pw; pw = &(*pw)->next) {
				if ((*pw)->seq == seq) {
					w = *pw;
					*pw = w->next;
					break;
				}
			}
			if (w) {
				if (w->kind == WIRE_READ && len >= 4 &&
				    (int32_t)wire_get32(body) == EAGAIN)
					drain_eventfd(w->fd);
				w->reply = body;
				w->reply_len = len;
				w->done = true;
				pthread_cond_signal(&w->cond);
				body = NULL;
			}
			pthread_mutex_unlock(&state_lock);
			free(body);
			continue;
		}
		switch (kind) {
		case WIRE_MEM_READ:
			serve_mem_read(sock, seq, body, len);
			break;
		case WIRE_MEM_WRITE:
			serve_mem_write(sock, seq, body, len);
			break;
		case WIRE_NEW_FD:
			serve_new_fd(sock, seq);
			break;
		case WIRE_FD_READY:
			serve_fd_ready(body, len);
			break;
		case WIRE_EXT_MEM_CHECK:
			serve_mem_check(sock, seq, body, len);
			break;
		default:
			reply_errno(sock, kind, seq, EINVAL, NULL, 0);
			break;
		}
		free(body);
	}
}

static const char *socket_path(void)
{
	const char *path = getenv("IOMMUFD_SOCKET");

	return path && *path ? path : DEFAULT_SOCKET;
}

/*
 * The first time no host answers, the program's call fails with the errno it always did, and the
 * shim also says once on stderr which socket it tried, so a person knows where to look.
 * IOMMUFD_SHIM_QUIET=1 (any non-empty value but 0) keeps it silent.
 */
static void say_no_host(const char *path, int err)
{
	static int said;
	const char *quiet = getenv("IOMMUFD_SHIM_QUIET");
	char cwd[512], line[1024];
	int n;

	if (quiet && *quiet && strcmp(quiet, "0") != 0)
		return;
	if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
		return;
	if (path[0] != '/' && getcwd(cwd, sizeof(cwd)))
		n = snprintf(line, sizeof(line), "iommufd shim: no emulator host at %s/%s (%s); start one there or set IOMMUFD_SOCKET (IOMMUFD_SHIM_QUIET=1 silences this)\n",
			     cwd, path, strerror(err));
	else
		n = snprintf(line, sizeof(line), "iommufd shim: no emulator host at %s (%s); start one there or set IOMMUFD_SOCKET (IOMMUFD_SHIM_QUIET=1 silences this)\n",
			     path, strerror(err));
	if (n > 0 && real_write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0)
		return;
}

static int connect_socket(int *out)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = socket_path();
	int sock, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		say_no_host(path, ENAMETOOLONG);
		return ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return errno;
	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = errno;
		real_close(sock);
		say_no_host(path, err);
		return err;
	}
	*out = sock;
	return 0;
}

/* HELLO on a fresh socket; no reader thread runs yet, so the reply is read right here. Returns
 * the server's errno, or a transport errno with *transport set. */
static int say_hello(struct recv_buffer *rb, uint64_t token, bool *transport)
{
	const char *name = program_invocation_short_name;
	size_t name_len = strlen(name);
	uint8_t *hello, *reply;
	uint16_t kind, flags;
	uint64_t seq;
	uint32_t len;
	int err;

	*transport = true;
	hello = malloc(16 + name_len);
	if (!hello)
		return ENOMEM;
	wire_put32(hello, WIRE_VERSION);
	wire_put32(hello + 4, (uint32_t)my_pid);
	wire_put64(hello + 8, token);
	memcpy(hello + 16, name, name_len);
	/* Nobody else knows this socket yet, so no send_lock (state_lock is held: see above). */
	err = send_frame_unlocked(rb->sock, WIRE_HELLO, 0, 0, hello, 16 + name_len);
	free(hello);
	if (!err)
		err = recv_frame(rb, &kind, &flags, &seq, &reply, &len);
	if (err)
		return err == ECONNRESET ? ECONNREFUSED : err;
	*transport = false;
	if (kind != WIRE_HELLO || !(flags & WIRE_FLAG_REPLY) || len < 20) {
		err = EPROTO;
	} else {
		err = (int32_t)wire_get32(reply);
		if (!err) {
			uint32_t announced = wire_get32(reply + 8);

			if (announced > FRAME_SLACK * 2)
				max_frame = announced;
			session_token = wire_get64(reply + 12);
		}
	}
	free(reply);
	return err;
}

/*
 * Connects on first use, or again after the connection dropped; called with state_lock held.
 * After a drop the session's resume token is offered first, so a restarted emulator gives the
 * same fd numbers back; if it refuses, a new session starts and the old fds become stale
 * (EBADF), as after a fork.
 */
static int open_session(uint64_t token, struct recv_buffer **out, bool *transport)
{
	struct recv_buffer *rb = malloc(sizeof(*rb));
	int err;

	*transport = true;
	if (!rb)
		return ENOMEM;
	rb->start = rb->end = 0;
	err = connect_socket(&rb->sock);
	if (err) {
		free(rb);
		return err;
	}
	err = say_hello(rb, token, transport);
	if (err) {
		real_close(rb->sock);
		free(rb);
		return err;
	}
	*out = rb;
	return 0;
}

static int connect_locked(void)
{
	struct recv_buffer *rb;
	struct reader_args *args;
	pthread_t thread;
	pthread_attr_t attr;
	sigset_t all, saved;
	bool transport;
	int err;

	if (conn_sock >= 0 && !conn_dead)
		return 0;
	if (conn_sock >= 0) {
		real_close(conn_sock);
		conn_sock = -1;
	}
	err = open_session(session_token, &rb, &transport);
	if (err && !transport && session_token) {
		session_token = 0;
		__atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
		err = open_session(0, &rb, &transport);
	}
	if (err)
		return err;

	args = malloc(sizeof(*args));
	if (!args) {
		real_close(rb->sock);
		free(rb);
		return ENOMEM;
	}
	args->rb = rb;
	args->generation = generation;
	/* The program's signals must not land in our thread: it starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&thread, &attr, reader_main, args);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (err) {
		free(args);
		real_close(rb->sock);
		free(rb);
		return err;
	}
	conn_sock = rb->sock;
	conn_dead = false;
	next_seq = 1;
	return 0;
}

/* Sends a request and waits for its reply body (*reply malloc'd; caller frees). Returns 0 or a
 * transport errno; the request's own errno is in the reply. */
static int call(uint16_t kind, int fd, const void *body, uint32_t len, uint8_t **reply,
		uint32_t *reply_len)
{
	struct waiter w = { .kind = kind, .fd = fd };
	int sock, err;

	pthread_mutex_lock(&state_lock);
	err = connect_locked();
	if (err) {
		pthread_mutex_unlock(&state_lock);
		return err;
	}
	sock = conn_sock;
	w.seq = next_seq++;
	pthread_cond_init(&w.cond, NULL);
	w.next = waiters;
	waiters = &w;
	pthread_mutex_unlock(&state_lock);

	err = send_frame(sock, kind, 0, w.seq, body, len);

	pthread_mutex_lock(&state_lock);
	if (err) {
		for (struct waiter **pw = &waiters; *pw; pw = &(*pw)->next) {
			if (*pw == &w) {
				*pw = w.next;
				break;
			}
		}
	} else {
		while (!w.done)
			pthread_cond_wait(&w.cond, &state_lock);
		err = w.err;
	}
	pthread_mutex_unlock(&state_lock);
	pthread_cond_destroy(&w.cond);
	if (err) {
		free(w.reply);
		return EIO;
	}
	*reply = w.reply;
	*reply_len = w.reply_len;
	return 0;
}

/* A request whose reply body is just i32 errno. Returns that errno (or a transport errno). */
static int call_simple(uint16_t kind, int fd, const void *body, uint32_t len)
{
	uint8_t *reply;
	uint32_t reply_len;
	int err = call(kind, fd, body, len, &reply, &reply_len);

	if (err)
		return err;
	err = reply_len >= 4 ? (int32_t)wire_get32(reply) : EPROTO;
	free(reply);
	return err;
}

static int send_dup(int oldfd, int newfd)
{
	uint8_t b[8];

	wire_put32(b, (uint32_t)oldfd);
	wire_put32(b + 4, (uint32_t)newfd);
	return call_simple(WIRE_DUP, oldfd, b, sizeof(b));
}

static int send_close(int fd)
{
	uint8_t b[4];

	wire_put32(b, (uint32_t)fd);
	return call_simple(WIRE_CLOSE, fd, b, sizeof(b));
}

/* pthread_atfork: no frame may be half-sent or a waiter list half-changed across fork. */
static void before_fork(void)
{
	pthread_mutex_lock(&send_lock);
	pthread_mutex_lock(&state_lock);
}

static void after_fork_parent(void)
{
	pthread_mutex_unlock(&state_lock);
	pthread_mutex_unlock(&send_lock);
}

/* The child has no reader thread and must not speak on the parent's connection: drop it and
 * move to a new generation so inherited fds are told apart (see the top of this file). */
static void after_fork_child(void)
{
	pthread_mutex_init(&state_lock, NULL);
	pthread_mutex_init(&send_lock, NULL);
	if (conn_sock >= 0)
		real_close(conn_sock);
	conn_sock = -1;
	conn_dead = false;
	waiters = NULL;
	session_token = 0;
	__atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
	my_pid = getpid();
}

__attribute__((constructor)) static void shim_init(void)
{
	my_pid = getpid();
	resolve();
	pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- open ---- */

static bool is_emulated_path(const char *path)
{
	static const char vfio[] = "/dev/vfio/devices/vfio";
	const char *p;

	if (!path)
		return false;
	if (!strcmp(path, "/dev/iommu"))
		return true;
	if (strncmp(path, vfio, sizeof(vfio) - 1))
		return false;
	p = path + sizeof(vfio) - 1;
	if (!*p)
		return false;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	return true;
}

static int emulated_open(const char *path, int flags)
{
	size_t path_len = strlen(path);
	uint8_t *b;
	int fd, err;

	fd = eventfd(0, ((flags & O_CLOEXEC) ? EFD_CLOEXEC : 0) |
			((flags & O_NONBLOCK) ? EFD_NONBLOCK : 0));
	if (fd < 0)
		return -1;
	if (fd >= MAX_SHIM_FD) {
		real_close(fd);
		errno = EMFILE;
		return -1;
	}
	b = malloc(8 + path_len);
	if (!b) {
		real_close(fd);
		errno = ENOMEM;
		return -1;
	}
	wire_put32(b, (uint32_t)fd);
	wire_put32(b + 4, (uint32_t)flags);
	memcpy(b + 8, path, path_len);
	err = call_simple(WIRE_OPEN, fd, b, 8 + path_len);
	free(b);
	if (err) {
		real_close(fd);
		errno = err;
		return -1;
	}
	mark_fd(fd);
	return fd;
}

static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	resolve();
	if (is_emulated_path(path))
		return emulated_open(path, flags);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return real_open(path, flags, mode);
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	resolve();
	if (is_emulated_path(path))
		return emulated_open(path, flags);
	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return real_openat(dirfd, path, flags, mode);
}

/* On 64-bit glibc the *64 names are aliases of the plain ones; O_LARGEFILE is implied. */
SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return open(path, flags | O_LARGEFILE, mode);
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	return openat(dirfd, path, flags | O_LARGEFILE, mode);
}

/* _FORTIFY_SOURCE versions, called when no mode argument is passed. */
SHIM_EXPORT int __open_2(const char *path, int flags)
{
	return open(path, flags);
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	return open64(path, flags);
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return openat(dirfd, path, flags);
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return openat64(dirfd, path, flags);
}

/* ---- ioctl ---- */

enum ioctl_arg {
	ARG_VALUE,		/* the argument is an integer (or unused): send it as is */
	ARG_SIZED_STRUCT,	/* a pointer to a struct whose first u32 is its size in bytes */
	ARG_FIXED_STRUCT,	/* a pointer to _IOC_SIZE(request) bytes */
};

/*
 * How to read an ioctl's third argument, from the request number alone.
 * iommufd ioctls are _IO(';', nr) (size 0 in the number) and VFIO ioctls are _IO(';', 100 + n);
 * both take a pointer to a struct whose first u32 is its size (iommufd's "size", VFIO's
 * "argsz"), except the ones that take an integer or nothing: VFIO_GET_API_VERSION (100),
 * VFIO_CHECK_EXTENSION (101), VFIO_SET_IOMMU (102) and VFIO_DEVICE_RESET (111, no argument).
 * Other types follow the _IOC convention: size 0 means an integer, else a struct of that size.
 */
static enum ioctl_arg classify_ioctl(unsigned long request)
{
	unsigned int nr = _IOC_NR(request);

	if (_IOC_TYPE(request) == ';' && _IOC_SIZE(request) == 0)
		return nr == 100 || nr == 101 || nr == 102 || nr == 111 ? ARG_VALUE
									: ARG_SIZED_STRUCT;
	return _IOC_SIZE(request) ? ARG_FIXED_STRUCT : ARG_VALUE;
}

/* Requests the kernel's VFS answers for every file before the file's own ioctl: they act on
 * the fd itself, so on the eventfd here. */
static bool is_vfs_ioctl(unsigned long request)
{
	return request == FIOCLEX || request == FIONCLEX || request == FIONBIO ||
	       request == FIOASYNC;
}

static int emulated_ioctl(int fd, unsigned long request, unsigned long arg)
{
	uint32_t cap = max_frame - FRAME_SLACK;
	uint32_t inline_len = 0;
	uint8_t *b, *reply;
	uint32_t reply_len;
	int err;
	int64_t retval;

	switch (classify_ioctl(request)) {
	case ARG_VALUE:
		break;
	case ARG_SIZED_STRUCT: {
		uint32_t size;

		if (safe_read(&size, arg, sizeof(size))) {
			errno = EFAULT;
			return -1;
		}
		inline_len = size < cap ? size : cap;
		break;
	}
	case ARG_FIXED_STRUCT:
		inline_len = _IOC_SIZE(request);
		break;
	}
	b = malloc(20 + inline_len);
	if (!b) {
		errno = ENOMEM;
		return -1;
	}
	if (safe_read(b + 20, arg, inline_len)) {
		free(b);
		errno = EFAULT;
		return -1;
	}
	wire_put32(b, (uint32_t)fd);
	wire_put32(b + 4, (uint32_t)request);
	wire_put64(b + 8, arg);
	wire_put32(b + 16, inline_len);
	err = call(WIRE_IOCTL, fd, b, 20 + inline_len, &reply, &reply_len);
	free(b);
	if (err) {
		errno = err;
		return -1;
	}
	if (reply_len < 16 || reply_len - 16 < wire_get32(reply + 12)) {
		free(reply);
		errno = EPROTO;
		return -1;
	}
	err = (int32_t)wire_get32(reply);
	retval = (int64_t)wire_get64(reply + 4);
	if (safe_write(arg, reply + 16, wire_get32(reply + 12)) && !err)
		err = EFAULT;
	free(reply);
	if (err) {
		errno = err;
		return -1;
	}
	return (int)retval;
}

SHIM_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	va_list ap;
	unsigned long arg;

	resolve();
	va_start(ap, request);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (!is_shim_fd(fd) || is_vfs_ioctl(request))
		return real_ioctl(fd, request, arg);
	if (is_stale_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	return emulated_ioctl(fd, request, arg);
}

/* ---- read / write ---- */

static ssize_t emulated_read(int fd, void *buf, size_t count)
{
	uint32_t cap = max_frame - FRAME_SLACK;

	for (;;) {
		uint8_t b[8], *reply;
		uint32_t reply_len;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int err, fl;

		wire_put32(b, (uint32_t)fd);
		wire_put32(b + 4, count < cap ? (uint32_t)count : cap);
		err = call(WIRE_READ, fd, b, sizeof(b), &reply, &reply_len);
		if (err) {
			errno = err;
			return -1;
		}
		err = reply_len >= 4 ? (int32_t)wire_get32(reply) : EPROTO;
		if (!err) {
			ssize_t n = reply_len - 4;

			if ((size_t)n > count)
				n = count;
			err = safe_write((uintptr_t)buf, reply + 4, n);
			free(reply);
			if (err) {
				errno = err;
				return -1;
			}
			return n;
		}
		free(reply);
		fl = real_fcntl(fd, F_GETFL);
		if (err != EAGAIN || fl < 0 || (fl & O_NONBLOCK)) {
			errno = err;
			return -1;
		}
		/* Blocking read of an empty queue: wait for FD_READY (the reader drained the
		 * eventfd when the EAGAIN came, so only a later signal wakes us) and ask again. */
		if (poll(&p, 1, -1) < 0)
			return -1;
		drain_eventfd(fd);
	}
}

static ssize_t emulated_write(int fd, const void *buf, size_t count)
{
	uint32_t cap = max_frame - FRAME_SLACK;
	uint32_t len = count < cap ? (uint32_t)count : cap;
	uint8_t *b = malloc(4 + len), *reply;
	uint32_t reply_len;
	int err;
	ssize_t written;

	if (!b) {
		errno = ENOMEM;
		return -1;
	}
	if (safe_read(b + 4, (uintptr_t)buf, len)) {
		free(b);
		errno = EFAULT;
		return -1;
	}
	wire_put32(b, (uint32_t)fd);
	err = call(WIRE_WRITE, fd, b, 4 + len, &reply, &reply_len);
	free(b);
	if (err) {
		errno = err;
		return -1;
	}
	err = reply_len >= 8 ? (int32_t)wire_get32(reply) : EPROTO;
	written = reply_len >= 8 ? wire_get32(reply + 4) : 0;
	free(reply);
	if (err) {
		errno = err;
		return -1;
	}
	return written;
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	resolve();
	if (!is_shim_fd(fd))
		return real_read(fd, buf, count);
	if (is_stale_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	return emulated_read(fd, buf, count);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	resolve();
	if (!is_shim_fd(fd))
		return real_write(fd, buf, count);
	if (is_stale_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	return emulated_write(fd, buf, count);
}

/* ---- close / dup ---- */

/* newfd is about to be replaced (dup2/dup3 close it silently): the emulator's file behind it
 * is closed as the kernel would close it. */
static void forget_replaced(int newfd)
{
	if (!is_shim_fd(newfd))
		return;
	if (!is_stale_fd(newfd))
		send_close(newfd);
	unmark_fd(newfd);
}

SHIM_EXPORT int close(int fd)
{
	resolve();
	if (is_shim_fd(fd)) {
		bool stale = is_stale_fd(fd);

		unmark_fd(fd);
		if (!stale)
			send_close(fd);
	}
	return real_close(fd);
}

/* A new number newfd now stands for the same emulated file as oldfd. */
static int finish_dup(int oldfd, int newfd)
{
	int err;

	if (newfd < 0)
		return newfd;
	if (newfd >= MAX_SHIM_FD) {
		real_close(newfd);
		errno = EMFILE;
		return -1;
	}
	err = send_dup(oldfd, newfd);
	if (err) {
		real_close(newfd);
		errno = err;
		return -1;
	}
	mark_fd(newfd);
	return newfd;
}

SHIM_EXPORT int dup(int oldfd)
{
	resolve();
	if (!is_shim_fd(oldfd))
		return real_dup(oldfd);
	if (is_stale_fd(oldfd)) {
		errno = EBADF;
		return -1;
	}
	return finish_dup(oldfd, real_dup(oldfd));
}

static int dup_onto(int oldfd, int newfd, int flags, bool is_dup3)
{
	int fd;

	if (is_shim_fd(oldfd) && is_stale_fd(oldfd)) {
		errno = EBADF;
		return -1;
	}
	if (oldfd == newfd) {
		/* dup2 returns newfd, dup3 fails: the kernel does no work either way. */
		if (is_dup3) {
			errno = EINVAL;
			return -1;
		}
		return real_fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd;
	}
	if (real_fcntl(oldfd, F_GETFD) < 0)
		return -1;	/* EBADF, and newfd is left alone */
	forget_replaced(newfd);
	fd = is_dup3 ? real_dup3(oldfd, newfd, flags) : real_dup2(oldfd, newfd);
	if (fd < 0 || !is_shim_fd(oldfd))
		return fd;
	return finish_dup(oldfd, fd);
}

SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	resolve();
	return dup_onto(oldfd, newfd, 0, false);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	resolve();
	return dup_onto(oldfd, newfd, flags, true);
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	unsigned long arg;

	resolve();
	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	if (!is_shim_fd(fd) || (cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC))
		return real_fcntl(fd, cmd, arg);
	if (is_stale_fd(fd)) {
		errno = EBADF;
		return -1;
	}
	return finish_dup(fd, real_fcntl(fd, cmd, arg));
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	unsigned long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, unsigned long);
	va_end(ap);
	return fcntl(fd, cmd, arg);
}
