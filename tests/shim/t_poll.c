/* A queue fd made by NEW_FD: poll and epoll wake after FD_READY, non-blocking reads give
 * EAGAIN, a blocking read waits for the event, writes are forwarded. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "shim_test.h"

static void on_alarm(int sig)
{
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void trigger(int fd, int queue, uint32_t delay_ms, uint32_t value)
{
	struct test_later cmd = { .size = sizeof(cmd), .fd = queue, .delay_ms = delay_ms,
				  .value = value };

	CHECK(ioctl(fd, TEST_TRIGGER, &cmd) == 0);
}

int main(void)
{
	struct test_new_queue nq = { .size = sizeof(nq), .out_fd = -1 };
	struct pollfd p;
	uint32_t v = 0;
	long t0;
	int fd, q, ep;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioctl(fd, TEST_NEW_QUEUE, &nq) == nq.out_fd);
	q = nq.out_fd;
	CHECK(q >= 0 && q != fd);
	CHECK(fd_kind(fd, q) == 3);
	CHECK((fcntl(q, F_GETFD) & FD_CLOEXEC) != 0);

	p = (struct pollfd){ .fd = q, .events = POLLIN };
	CHECK(poll(&p, 1, 0) == 0);

	CHECK(fcntl(q, F_SETFL, O_NONBLOCK) == 0);
	CHECK_ERRNO(read(q, &v, sizeof(v)), EAGAIN);

	trigger(fd, q, 100, 11);
	t0 = now_ms();
	CHECK(poll(&p, 1, 5000) == 1);
	CHECK(p.revents & POLLIN);
	CHECK(now_ms() - t0 >= 80);
	CHECK(read(q, &v, sizeof(v)) == sizeof(v));
	CHECK(v == 11);
	CHECK_ERRNO(read(q, &v, sizeof(v)), EAGAIN);
	/* the empty answer used up the readiness */
	CHECK(poll(&p, 1, 0) == 0);

	/* epoll */
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = q }, got;
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, q, &ev) == 0);
	CHECK(epoll_wait(ep, &got, 1, 0) == 0);
	trigger(fd, q, 50, 12);
	CHECK(epoll_wait(ep, &got, 1, 5000) == 1);
	CHECK(got.data.fd == q);
	CHECK(read(q, &v, sizeof(v)) == sizeof(v));
	CHECK(v == 12);
	close(ep);

	/* blocking read: waits for the event */
	CHECK(fcntl(q, F_SETFL, 0) == 0);
	trigger(fd, q, 100, 13);
	t0 = now_ms();
	CHECK(read(q, &v, sizeof(v)) == sizeof(v));
	CHECK(v == 13);
	CHECK(now_ms() - t0 >= 80);

	/* select */
	fd_set rd;
	struct timeval tv = { 5, 0 };
	FD_ZERO(&rd);
	FD_SET(q, &rd);
	trigger(fd, q, 50, 15);
	CHECK(select(q + 1, &rd, NULL, NULL, &tv) == 1);
	CHECK(FD_ISSET(q, &rd));
	CHECK(read(q, &v, sizeof(v)) == sizeof(v));
	CHECK(v == 15);

	/* a signal interrupts a blocking read of an empty queue (no SA_RESTART) */
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { 0, 100000 } };
	CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
	CHECK_ERRNO(read(q, &v, sizeof(v)), EINTR);

	/* an event already there: a blocking read returns at once */
	trigger(fd, q, 0, 14);
	CHECK(poll(&p, 1, 5000) == 1);
	CHECK(read(q, &v, sizeof(v)) == sizeof(v));
	CHECK(v == 14);

	/* a response written back to the queue */
	uint32_t response[4] = { 1, 2, 3, 4 };
	CHECK(write(q, response, sizeof(response)) == sizeof(response));
	/* the iommufd itself is neither readable nor writable */
	CHECK_ERRNO(write(fd, response, sizeof(response)), EINVAL);
	CHECK_ERRNO(read(fd, response, sizeof(response)), EINVAL);
	/* ioctls on a queue */
	CHECK_ERRNO(ioctl(q, IOMMU_IOAS_ALLOC, &nq), ENOTTY);

	CHECK(close(q) == 0);
	CHECK(fd_kind(fd, q) == 0);
	CHECK(close(fd) == 0);
	return test_result("t_poll");
}
