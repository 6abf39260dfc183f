/*
 * A stand-in for the emulator's socket server with canned behaviour, so the shim can be tested
 * before (and independently of) the real one. Usage: fake_server SOCKET_PATH
 *
 * Per connection a reader thread dispatches replies to waiting server calls and queues client
 * requests for a worker thread, which serves them in order and may itself call the client
 * (MEM_READ, MEM_WRITE, NEW_FD) while doing so; timer threads send FD_READY and memory
 * requests later, when no client call is waiting.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"
#include "shim_test.h"

#define MAX_FDS 4096
#define MAX_FRAME 65536u
#define QUEUE_LEN 64

enum fd_kind { FD_NONE, FD_IOMMUFD, FD_VFIO, FD_QUEUE };

struct frame {
	uint16_t kind;
	uint16_t flags;
	uint64_t seq;
	uint8_t *body;
	uint32_t len;
	struct frame *next;
};

struct slot {
	uint64_t seq;
	bool done;
	struct frame *reply;
	struct slot *next;
};

struct queue {
	uint32_t values[QUEUE_LEN];
	int count;
};

struct conn {
	int sock;
	pthread_mutex_t send_lock;
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;
	bool dead;
	bool said_hello;
	uint64_t next_seq;
	struct slot *slots;
	struct frame *requests, **requests_tail;
	uint8_t kinds[MAX_FDS];
	/* a dup'd fd shares its file, as the kernel's dup does: ids index the files below */
	int file_of[MAX_FDS];
	struct queue queues[MAX_FDS];	/* by file id */
	int next_file;
	uint32_t next_ioas_id;
};

static int send_all(int sock, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(sock, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int recv_all(int sock, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = recv(sock, p, len, 0);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static void send_frame(struct conn *c, uint16_t kind, uint16_t flags, uint64_t seq,
		       const void *body, uint32_t len)
{
	uint8_t h[WIRE_HEADER_LEN];

	wire_header(h, len, kind, flags, seq);
	pthread_mutex_lock(&c->send_lock);
	if (!send_all(c->sock, h, sizeof(h)))
		send_all(c->sock, body, len);
	pthread_mutex_unlock(&c->send_lock);
}

static struct frame *recv_frame(int sock)
{
	uint8_t h[WIRE_HEADER_LEN];
	struct frame *f;
	uint32_t total;

	if (recv_all(sock, h, sizeof(h)))
		return NULL;
	total = wire_get32(h);
	if (total < WIRE_HEADER_LEN - 4 || total > 4 * MAX_FRAME)
		return NULL;
	f = calloc(1, sizeof(*f));
	f->kind = wire_get16(h + 4);
	f->flags = wire_get16(h + 6);
	f->seq = wire_get64(h + 8);
	f->len = total - (WIRE_HEADER_LEN - 4);
	f->body = malloc(f->len + 1);
	if (recv_all(sock, f->body, f->len)) {
		free(f->body);
		free(f);
		return NULL;
	}
	return f;
}

static void free_frame(struct frame *f)
{
	if (f) {
		free(f->body);
		free(f);
	}
}

/* A request to the client; returns its reply frame, or NULL when the client is gone. */
static struct frame *server_call(struct conn *c, uint16_t kind, const void *body, uint32_t len)
{
	struct slot s = { 0 };
	struct frame *reply;

	pthread_mutex_lock(&c->lock);
	if (c->dead) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	s.seq = c->next_seq++;
	s.next = c->slots;
	c->slots = &s;
	pthread_mutex_unlock(&c->lock);
	send_frame(c, kind, 0, s.seq, body, len);
	pthread_mutex_lock(&c->lock);
	while (!s.done && !c->dead)
		pthread_cond_wait(&c->cond, &c->lock);
	if (!s.done) {
		for (struct slot **ps = &c->slots; *ps; ps = &(*ps)->next) {
			if (*ps == &s) {
				*ps = s.next;
				break;
			}
		}
	}
	reply = s.reply;
	pthread_mutex_unlock(&c->lock);
	return reply;
}

/* MEM_READ; returns the client's errno (EFAULT for a bad address). */
static int mem_read(struct conn *c, uint64_t addr, void *buf, uint32_t len)
{
	uint8_t b[12];
	struct frame *r;
	int err;

	wire_put64(b, addr);
	wire_put32(b + 8, len);
	r = server_call(c, WIRE_MEM_READ, b, sizeof(b));
	if (!r)
		return EFAULT;
	err = r->len >= 4 ? (int32_t)wire_get32(r->body) : EPROTO;
	if (!err && r->len - 4 != len)
		err = EPROTO;
	if (!err)
		memcpy(buf, r->body + 4, len);
	free_frame(r);
	return err;
}

static int mem_write(struct conn *c, uint64_t addr, const void *buf, uint32_t len)
{
	uint8_t *b = malloc(8 + len);
	struct frame *r;
	int err;

	wire_put64(b, addr);
	memcpy(b + 8, buf, len);
	r = server_call(c, WIRE_MEM_WRITE, b, 8 + len);
	free(b);
	if (!r)
		return EFAULT;
	err = r->len >= 4 ? (int32_t)wire_get32(r->body) : EPROTO;
	free_frame(r);
	return err;
}

static void reply_errno(struct conn *c, struct frame *req, int err)
{
	uint8_t b[4];

	wire_put32(b, (uint32_t)err);
	send_frame(c, req->kind, WIRE_FLAG_REPLY, req->seq, b, sizeof(b));
}

static void reply_ioctl(struct conn *c, struct frame *req, int err, int64_t retval,
			const void *wb, uint32_t wb_len)
{
	uint8_t *b = malloc(16 + wb_len);

	wire_put32(b, (uint32_t)err);
	wire_put64(b + 4, (uint64_t)retval);
	wire_put32(b + 12, wb_len);
	if (wb_len)
		memcpy(b + 16, wb, wb_len);
	send_frame(c, WIRE_IOCTL, WIRE_FLAG_REPLY, req->seq, b, 16 + wb_len);
	free(b);
}

static bool fd_ok(struct conn *c, int fd)
{
	return fd >= 0 && fd < MAX_FDS && c->kinds[fd] != FD_NONE;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

struct later {
	struct conn *c;
	int fd;
	uint32_t delay_ms;
	uint32_t value;
	uint64_t addr;
	uint32_t len;
};

/* TEST_TRIGGER: an event reaches the queue later, and FD_READY says so. */
static void *trigger_later(void *p)
{
	struct later *l = p;
	struct conn *c = l->c;
	uint8_t b[8];

	sleep_ms(l->delay_ms);
	pthread_mutex_lock(&c->lock);
	if (fd_ok(c, l->fd) && c->kinds[l->fd] == FD_QUEUE) {
		struct queue *q = &c->queues[c->file_of[l->fd]];

		if (q->count < QUEUE_LEN)
			q->values[q->count++] = l->value;
	}
	pthread_mutex_unlock(&c->lock);
	wire_put32(b, (uint32_t)l->fd);
	wire_put32(b + 4, POLLIN);
	send_frame(c, WIRE_FD_READY, 0, 0, b, sizeof(b));
	free(l);
	return NULL;
}

/* TEST_ASYNC_DMA: an emulated DMA writes client memory while no call of the client waits. */
static void *dma_later(void *p)
{
	struct later *l = p;
	uint8_t *data = malloc(l->len);

	sleep_ms(l->delay_ms);
	for (uint32_t i = 0; i < l->len; i++)
		data[i] = ASYNC_DMA_BYTE(i);
	mem_write(l->c, l->addr, data, l->len);
	free(data);
	free(l);
	return NULL;
}

static void start_later(void *(*fn)(void *), struct later *l)
{
	pthread_t t;

	pthread_create(&t, NULL, fn, l);
	pthread_detach(t);
}

static void serve_ioctl(struct conn *c, struct frame *req)
{
	const uint8_t *b = req->body;
	int fd;
	uint32_t request, inline_len;
	uint64_t arg;
	const uint8_t *in;

	if (req->len < 20 || req->len - 20 < wire_get32(b + 16)) {
		reply_ioctl(c, req, EINVAL, 0, NULL, 0);
		return;
	}
	fd = (int32_t)wire_get32(b);
	request = wire_get32(b + 4);
	arg = wire_get64(b + 8);
	inline_len = wire_get32(b + 16);
	in = b + 20;
	pthread_mutex_lock(&c->lock);
	if (!fd_ok(c, fd)) {
		pthread_mutex_unlock(&c->lock);
		reply_ioctl(c, req, EBADF, 0, NULL, 0);
		return;
	}
	if (c->kinds[fd] == FD_QUEUE) {
		pthread_mutex_unlock(&c->lock);
		reply_ioctl(c, req, ENOTTY, 0, NULL, 0);
		return;
	}
	pthread_mutex_unlock(&c->lock);

	switch (request) {
	case IOMMU_IOAS_ALLOC: {
		struct iommu_ioas_alloc cmd = { 0 };

		if (inline_len < sizeof(cmd)) {
			reply_ioctl(c, req, EINVAL, 0, NULL, 0);
			return;
		}
		memcpy(&cmd, in, sizeof(cmd));
		if (cmd.flags) {
			reply_ioctl(c, req, EOPNOTSUPP, 0, NULL, 0);
			return;
		}
		pthread_mutex_lock(&c->lock);
		cmd.out_ioas_id = ++c->next_ioas_id;
		pthread_mutex_unlock(&c->lock);
		reply_ioctl(c, req, 0, 0, &cmd, sizeof(cmd));
		return;
	}
	case VFIO_CHECK_EXTENSION:
		/* an integer argument: echoed plus one, to show it arrived as it was */
		reply_ioctl(c, req, inline_len ? EINVAL : 0, inline_len ? 0 : (int64_t)arg + 1,
			    NULL, 0);
		return;
	case TEST_MEMCOPY: {
		struct test_memcopy cmd;
		uint8_t *data;
		int err;

		if (inline_len < sizeof(cmd)) {
			reply_ioctl(c, req, EINVAL, 0, NULL, 0);
			return;
		}
		memcpy(&cmd, in, sizeof(cmd));
		if (cmd.len > MAX_FRAME - 64) {
			reply_ioctl(c, req, E2BIG, 0, NULL, 0);
			return;
		}
		data = malloc(cmd.len + 1);
		err = mem_read(c, cmd.src, data, cmd.len);
		if (!err) {
			for (uint32_t i = 0; i < cmd.len; i++)
				data[i] = MEMCOPY_BYTE(data[i]);
			err = mem_write(c, cmd.dst, data, cmd.len);
		}
		free(data);
		reply_ioctl(c, req, err, err ? 0 : cmd.len, NULL, 0);
		return;
	}
	case TEST_NEW_QUEUE: {
		struct test_new_queue cmd;
		uint8_t kind[4];
		struct frame *r;
		int err, newfd = -1;

		if (inline_len < sizeof(cmd)) {
			reply_ioctl(c, req, EINVAL, 0, NULL, 0);
			return;
		}
		memcpy(&cmd, in, sizeof(cmd));
		wire_put32(kind, 1);
		r = server_call(c, WIRE_NEW_FD, kind, sizeof(kind));
		err = !r ? EIO : r->len < 8 ? EPROTO : (int32_t)wire_get32(r->body);
		if (!err)
			newfd = (int32_t)wire_get32(r->body + 4);
		free_frame(r);
		if (!err && (newfd < 0 || newfd >= MAX_FDS))
			err = EMFILE;
		if (!err) {
			pthread_mutex_lock(&c->lock);
			if (c->kinds[newfd] != FD_NONE) {
				err = EBADF;
			} else {
				c->kinds[newfd] = FD_QUEUE;
				c->file_of[newfd] = c->next_file++;
				c->queues[c->file_of[newfd]].count = 0;
			}
			pthread_mutex_unlock(&c->lock);
		}
		cmd.out_fd = newfd;
		reply_ioctl(c, req, err, err ? 0 : newfd, &cmd, sizeof(cmd));
		return;
	}
	case TEST_TRIGGER:
	case TEST_ASYNC_DMA: {
		struct test_later cmd;
		struct later *l;

		if (inline_len < sizeof(cmd)) {
			reply_ioctl(c, req, EINVAL, 0, NULL, 0);
			return;
		}
		memcpy(&cmd, in, sizeof(cmd));
		l = calloc(1, sizeof(*l));
		l->c = c;
		l->fd = cmd.fd;
		l->delay_ms = cmd.delay_ms;
		l->value = cmd.value;
		l->addr = cmd.addr;
		l->len = cmd.len;
		start_later(request == TEST_TRIGGER ? trigger_later : dma_later, l);
		reply_ioctl(c, req, 0, 0, NULL, 0);
		return;
	}
	case TEST_FD_KIND: {
		struct test_fd_kind cmd;

		if (inline_len < sizeof(cmd)) {
			reply_ioctl(c, req, EINVAL, 0, NULL, 0);
			return;
		}
		memcpy(&cmd, in, sizeof(cmd));
		pthread_mutex_lock(&c->lock);
		cmd.out_kind = cmd.fd >= 0 && cmd.fd < MAX_FDS ? c->kinds[cmd.fd] : 0;
		pthread_mutex_unlock(&c->lock);
		reply_ioctl(c, req, 0, 0, &cmd, sizeof(cmd));
		return;
	}
	case TEST_MEM_CHECK: {
		struct test_mem_check cmd;
		uint8_t b[20];
		struct frame *r;
		int err;

		if (inline_len < sizeof(cmd)) {
			reply_ioctl(c, req, EINVAL, 0, NULL, 0);
			return;
		}
		memcpy(&cmd, in, sizeof(cmd));
		wire_put64(b, cmd.addr);
		wire_put64(b + 8, cmd.len);
		wire_put32(b + 16, cmd.flags);
		r = server_call(c, WIRE_EXT_MEM_CHECK, b, sizeof(b));
		err = !r ? EIO : r->len < 4 ? EPROTO : (int32_t)wire_get32(r->body);
		free_frame(r);
		reply_ioctl(c, req, err, 0, NULL, 0);
		return;
	}
	case TEST_DROP:
		/* the emulator goes away in the middle of a call: no reply, the connection ends */
		shutdown(c->sock, SHUT_RDWR);
		return;
	default:
		reply_ioctl(c, req, ENOTTY, 0, NULL, 0);
		return;
	}
}

static void serve_hello(struct conn *c, struct frame *req)
{
	uint8_t b[20 + 4];
	int err = 0;

	if (req->len < 16 || wire_get32(req->body) != WIRE_VERSION)
		err = EPROTO;
	else if (wire_get64(req->body + 8))
		err = ENOENT;	/* this server keeps no sessions to resume */
	wire_put32(b, (uint32_t)err);
	wire_put32(b + 4, WIRE_VERSION);
	wire_put32(b + 8, MAX_FRAME);
	wire_put64(b + 12, 0x1234abcdull);
	memcpy(b + 20, "fake", 4);
	send_frame(c, WIRE_HELLO, WIRE_FLAG_REPLY, req->seq, b, sizeof(b));
	c->said_hello = !err;
}

static int path_kind(const char *path)
{
	if (!strcmp(path, "/dev/iommu"))
		return FD_IOMMUFD;
	/* the fake platform has devices vfio0 to vfio3 */
	if (!strncmp(path, "/dev/vfio/devices/vfio", 22) && path[22] >= '0' && path[22] <= '3' &&
	    !path[23])
		return FD_VFIO;
	return FD_NONE;
}

static void serve(struct conn *c, struct frame *req)
{
	const uint8_t *b = req->body;
	int fd, err = 0;

	switch (req->kind) {
	case WIRE_OPEN: {
		char path[256] = { 0 };
		int kind;

		if (req->len < 8 || req->len - 8 >= sizeof(path)) {
			reply_errno(c, req, EINVAL);
			return;
		}
		fd = (int32_t)wire_get32(b);
		memcpy(path, b + 8, req->len - 8);
		kind = path_kind(path);
		pthread_mutex_lock(&c->lock);
		if (kind == FD_NONE)
			err = ENOENT;
		else if (fd < 0 || fd >= MAX_FDS || c->kinds[fd] != FD_NONE)
			err = EBADF;
		else {
			c->kinds[fd] = kind;
			c->file_of[fd] = c->next_file++;
		}
		pthread_mutex_unlock(&c->lock);
		reply_errno(c, req, err);
		return;
	}
	case WIRE_CLOSE:
		fd = req->len >= 4 ? (int32_t)wire_get32(b) : -1;
		pthread_mutex_lock(&c->lock);
		if (fd_ok(c, fd))
			c->kinds[fd] = FD_NONE;
		else
			err = EBADF;
		pthread_mutex_unlock(&c->lock);
		reply_errno(c, req, err);
		return;
	case WIRE_DUP: {
		int newfd;

		if (req->len < 8) {
			reply_errno(c, req, EINVAL);
			return;
		}
		fd = (int32_t)wire_get32(b);
		newfd = (int32_t)wire_get32(b + 4);
		pthread_mutex_lock(&c->lock);
		if (!fd_ok(c, fd) || newfd < 0 || newfd >= MAX_FDS || c->kinds[newfd] != FD_NONE)
			err = EBADF;
		else {
			c->kinds[newfd] = c->kinds[fd];
			c->file_of[newfd] = c->file_of[fd];
		}
		pthread_mutex_unlock(&c->lock);
		reply_errno(c, req, err);
		return;
	}
	case WIRE_IOCTL:
		serve_ioctl(c, req);
		return;
	case WIRE_READ: {
		uint8_t r[8];
		uint32_t count = req->len >= 8 ? wire_get32(b + 4) : 0;
		struct queue *q;

		fd = req->len >= 8 ? (int32_t)wire_get32(b) : -1;
		pthread_mutex_lock(&c->lock);
		if (!fd_ok(c, fd)) {
			err = EBADF;
		} else if (c->kinds[fd] != FD_QUEUE || count < 4) {
			err = EINVAL;
		} else {
			q = &c->queues[c->file_of[fd]];
			if (!q->count) {
				err = EAGAIN;
			} else {
				wire_put32(r + 4, q->values[0]);
				memmove(q->values, q->values + 1, --q->count * sizeof(q->values[0]));
			}
		}
		pthread_mutex_unlock(&c->lock);
		wire_put32(r, (uint32_t)err);
		send_frame(c, WIRE_READ, WIRE_FLAG_REPLY, req->seq, r, err ? 4 : 8);
		return;
	}
	case WIRE_WRITE: {
		uint8_t r[8];

		fd = req->len >= 4 ? (int32_t)wire_get32(b) : -1;
		pthread_mutex_lock(&c->lock);
		if (!fd_ok(c, fd))
			err = EBADF;
		else if (c->kinds[fd] != FD_QUEUE)
			err = EINVAL;
		pthread_mutex_unlock(&c->lock);
		wire_put32(r, (uint32_t)err);
		wire_put32(r + 4, err ? 0 : req->len - 4);
		send_frame(c, WIRE_WRITE, WIRE_FLAG_REPLY, req->seq, r, sizeof(r));
		return;
	}
	default:
		reply_errno(c, req, EINVAL);
		return;
	}
}

static void *worker_main(void *p)
{
	struct conn *c = p;

	for (;;) {
		struct frame *req;

		pthread_mutex_lock(&c->lock);
		while (!c->requests && !c->dead)
			pthread_cond_wait(&c->cond, &c->lock);
		req = c->requests;
		if (!req) {
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		c->requests = req->next;
		if (!c->requests)
			c->requests_tail = &c->requests;
		pthread_mutex_unlock(&c->lock);
		if (req->kind == WIRE_HELLO)
			serve_hello(c, req);
		else if (!c->said_hello)
			reply_errno(c, req, EPROTO);
		else
			serve(c, req);
		free_frame(req);
	}
}

static void *conn_main(void *p)
{
	struct conn *c = p;
	pthread_t worker;

	pthread_create(&worker, NULL, worker_main, c);
	for (;;) {
		struct frame *f = recv_frame(c->sock);

		pthread_mutex_lock(&c->lock);
		if (!f) {
			c->dead = true;
			pthread_cond_broadcast(&c->cond);
			pthread_mutex_unlock(&c->lock);
			break;
		}
		if (f->flags & WIRE_FLAG_REPLY) {
			for (struct slot **ps = &c->slots; *ps; ps = &(*ps)->next) {
				if ((*ps)->seq == f->seq) {
					struct slot *s = *ps;

					*ps = s->next;
					s->reply = f;
					s->done = true;
					f = NULL;
					break;
				}
			}
			free_frame(f);
		} else {
			*c->requests_tail = f;
			c->requests_tail = &f->next;
		}
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	pthread_join(worker, NULL);
	close(c->sock);
	/* timer threads may still hold c: it is left allocated, as a test server can afford */
	return NULL;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int lsock;

	if (argc != 2 || strlen(argv[1]) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "usage: fake_server SOCKET_PATH\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	strcpy(addr.sun_path, argv[1]);
	unlink(argv[1]);
	lsock = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lsock < 0 || bind(lsock, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lsock, 64) < 0) {
		perror("fake_server");
		return 1;
	}
	for (;;) {
		int sock = accept(lsock, NULL, NULL);
		struct conn *c;
		pthread_t t;

		if (sock < 0) {
			if (errno == EINTR)
				continue;
			perror("accept");
			return 1;
		}
		c = calloc(1, sizeof(*c));
		c->sock = sock;
		pthread_mutex_init(&c->send_lock, NULL);
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->cond, NULL);
		c->requests_tail = &c->requests;
		c->next_seq = 1;
		pthread_create(&t, NULL, conn_main, c);
		pthread_detach(t);
	}
}
