/* A memory request that arrives while no call of the program waits (an emulated DMA started
 * elsewhere) is served by the shim's reader thread. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "shim_test.h"

static volatile uint8_t buf[4096];

int main(void)
{
	struct test_later cmd = { .size = sizeof(cmd), .delay_ms = 50, .addr = (uintptr_t)buf,
				  .len = sizeof(buf) };
	int fd, done = 0;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioctl(fd, TEST_ASYNC_DMA, &cmd) == 0);
	for (int i = 0; i < 500 && !done; i++) {
		struct timespec ts = { 0, 10 * 1000000L };

		nanosleep(&ts, NULL);
		done = buf[sizeof(buf) - 1] == ASYNC_DMA_BYTE(sizeof(buf) - 1);
	}
	CHECK(done);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		if (buf[i] != ASYNC_DMA_BYTE(i)) {
			CHECK(buf[i] == ASYNC_DMA_BYTE(i));
			break;
		}
	/* a DMA to an address that is not mapped is refused, and the program lives on */
	cmd.addr = 16;
	cmd.delay_ms = 0;
	CHECK(ioctl(fd, TEST_ASYNC_DMA, &cmd) == 0);
	struct timespec ts = { 0, 100 * 1000000L };
	nanosleep(&ts, NULL);
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(close(fd) == 0);
	return test_result("t_async_dma");
}
